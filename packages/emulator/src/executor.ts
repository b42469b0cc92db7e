import { HttpError, badRequest, errorBody } from './errors.js';
import { completionObject, shapeAnswer, type ShapedAnswer } from './completion.js';
import { isKnownModel } from './models.js';
import type { ChatRequestBody } from './options.js';
import { respond, type ResponderAnswer } from './responder.js';
import type { Store } from './store.js';
import type { Upstream } from './upstream.js';

/** A request's outcome: status and JSON body (a completion, or an OpenAI error body). */
export interface Outcome {
  status: number;
  body: unknown;
}

/** Check a chat body; returns the error to answer, or undefined when it can run. */
export function chatBodyError(store: Store, body: unknown, checkModel: boolean): HttpError | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return badRequest('The request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b['model'] !== 'string' || b['model'] === '') return badRequest('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (checkModel && !isKnownModel(store, b['model'])) {
    return new HttpError(404, `The model \`${b['model']}\` does not exist`, 'invalid_request_error', 'model_not_found', 'model');
  }
  const messages = b['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return badRequest('messages must be a non-empty array', 'messages', 'invalid_value');
  for (const [i, m] of messages.entries()) {
    if (!m || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string') {
      return badRequest(`messages[${i}] must be an object with a role`, `messages[${i}].role`, 'invalid_value');
    }
  }
  for (const key of ['max_completion_tokens', 'max_tokens'] as const) {
    const v = b[key];
    if (v != null && !(Number.isInteger(v) && (v as number) >= 1)) return badRequest(`${key} must be a positive integer`, key, 'invalid_value');
  }
  const top = b['top_logprobs'];
  if (top != null) {
    if (!(Number.isInteger(top) && (top as number) >= 0 && (top as number) <= 20)) return badRequest('top_logprobs must be an integer between 0 and 20', 'top_logprobs', 'invalid_value');
    if (b['logprobs'] !== true) return badRequest('logprobs must be true when top_logprobs is set', 'logprobs', 'invalid_value');
  }
  return undefined;
}

/** How chat bodies get answered: a custom responder, an upstream endpoint, or the built-in rule. */
export function createExecutor(store: Store, upstream: Upstream | undefined, custom: ((body: ChatRequestBody) => unknown) | undefined) {
  function answerOf(body: ChatRequestBody): ResponderAnswer | { completion: unknown } {
    if (custom) {
      const out = custom(body);
      if (typeof out === 'string') return { content: out, rule: 'echo' };
      return { completion: out };
    }
    return respond(body);
  }

  return {
    upstream,
    /** Run one chat body (already validated) to a status + body. */
    async run(body: ChatRequestBody): Promise<Outcome> {
      if (upstream) return upstream.chat(body);
      try {
        const answer = answerOf(body);
        if ('completion' in answer) return { status: 200, body: answer.completion };
        return { status: 200, body: completionObject(body, shapeAnswer(body, answer)) };
      } catch (err) {
        return { status: 500, body: errorBody(500, `responder failed: ${(err as Error).message}`, 'responder_error') };
      }
    },
    /** The shaped answer for SSE streaming (built-in or custom responder). */
    shaped(body: ChatRequestBody): ShapedAnswer {
      const answer = answerOf(body);
      if ('completion' in answer) {
        const c = answer.completion as { choices?: Array<{ message?: { content?: unknown } }> };
        const content = typeof c?.choices?.[0]?.message?.content === 'string' ? (c.choices[0]!.message!.content as string) : JSON.stringify(c);
        return shapeAnswer(body, { content, rule: 'echo' });
      }
      return shapeAnswer(body, answer);
    },
  };
}

/** The executor type. */
export type Executor = ReturnType<typeof createExecutor>;
