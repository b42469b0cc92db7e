import type { ChatRequestBody } from '../request/request-line.js';

/**
 * Estimate the prompt (input) tokens of a chat request, before sending it: ceil(characters of all message
 * contents / 4) + 4 per message (role and framing). The ~4 characters per token rule holds for English text with
 * Llama/GPT-style tokenizers; other scripts (CJK, code) take more tokens per character, so it is an estimate only.
 * @example estimatePromptTokens({ messages: [{ role: 'user', content: 'abcdefgh' }] }) // 6
 */
export function estimatePromptTokens(body: Pick<ChatRequestBody, 'messages'>): number {
  let chars = 0;
  for (const message of body.messages) chars += typeof message.content === 'string' ? message.content.length : JSON.stringify(message.content ?? '').length;
  return Math.ceil(chars / 4) + 4 * body.messages.length;
}

/**
 * Estimate the tokens a chat request counts against a tokens-per-minute limit, before sending it: the prompt
 * ({@link estimatePromptTokens}) plus the completion budget the request reserves (`max_completion_tokens`, else
 * `max_tokens`, else 0). After a success the limiter corrects the estimate with the response's `usage.total_tokens`.
 * @example estimateTokens({ model: 'm', messages: [{ role: 'user', content: 'abcdefgh' }], max_completion_tokens: 10 }) // 16
 */
export function estimateTokens(body: ChatRequestBody): number {
  const completion = body.max_completion_tokens ?? (body as { max_tokens?: number }).max_tokens ?? 0;
  return estimatePromptTokens(body) + completion;
}
