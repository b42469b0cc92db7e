import { sendError, sendJson } from '../errors.js';
import { completionChunks, completionId } from '../completion.js';
import { chatBodyError, type Executor } from '../executor.js';
import { readJson, type Route } from '../internal/http.js';
import type { ChatRequestBody } from '../options.js';
import type { Store } from '../store.js';

/** POST /v1/chat/completions (JSON or SSE stream ending with `data: [DONE]`). */
export function chatRoutes(store: Store, executor: Executor, onChat: () => void): Route[] {
  return [
    {
      method: 'POST',
      pattern: 'POST /v1/chat/completions',
      handler: async ({ req, res }) => {
        onChat();
        const body = (await readJson(req)) as ChatRequestBody;
        const invalid = chatBodyError(store, body, executor.upstream === undefined);
        if (invalid) return sendError(res, invalid);
        if (body.stream === true) {
          if (executor.upstream) return executor.upstream.stream(body, res);
          const shaped = executor.shaped(body);
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
          const id = completionId();
          for (const chunk of completionChunks(body, shaped, id)) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
          res.end('data: [DONE]\n\n');
          return;
        }
        const outcome = await executor.run(body);
        sendJson(res, outcome.status, outcome.body);
      },
    },
  ];
}
