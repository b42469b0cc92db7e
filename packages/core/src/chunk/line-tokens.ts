import { KbatchError } from '../errors.js';
import { peekCustomId } from '../internal/line-splitter.js';
import { estimatePromptTokens } from '../realtime/estimate-tokens.js';

/**
 * The estimated prompt (input) tokens of one request line (bytes, without its newline): what a provider such as
 * OpenAI counts against its enqueued-token limit when the batch is queued. The same estimate realtime's rate limiter
 * uses ({@link estimatePromptTokens}), without the completion budget, which is not enqueued.
 * @throws KbatchError LINE_INVALID when the line is not JSON with a `body.messages` list
 * @example estimateLineTokens(Buffer.from('{"custom_id":"1","body":{"messages":[{"role":"user","content":"abcdefgh"}]}}')) // 6
 */
export function estimateLineTokens(line: Buffer): number {
  try {
    const messages = (JSON.parse(line.toString('utf8')) as { body?: { messages?: unknown } } | null)?.body?.messages;
    if (Array.isArray(messages) && messages.every((m) => typeof m === 'object' && m !== null)) return estimatePromptTokens({ messages });
  } catch {
    // reported below, with the custom_id when one can be read
  }
  const id = peekCustomId(line);
  throw new KbatchError(
    'LINE_INVALID',
    `request ${id === undefined ? '(no custom_id)' : JSON.stringify(id)}: its tokens cannot be estimated for maxBatchTokens (a request line must be JSON with a body.messages list)`,
    { ...(id === undefined ? {} : { customId: id }), field: 'maxBatchTokens' },
  );
}
