import type { ChatMessage } from '../request/index.js';

/** Tokens added per message by the Llama 3 chat template (`<|start_header_id|>role<|end_header_id|>\n\n … <|eot_id|>`). */
export const TOKENS_PER_MESSAGE = 5;
/** Tokens added once per conversation (`<|begin_of_text|>`, rounded up). */
export const TOKENS_PER_CONVERSATION = 1;

/**
 * Estimate the tokens of a conversation without a tokenizer: ceil(characters / 4) per message content
 * plus {@link TOKENS_PER_MESSAGE} per message plus {@link TOKENS_PER_CONVERSATION}.
 * Four characters per token is the usual average for English text with Llama 3's tokenizer; it is an
 * estimate (code, numbers and non-Latin scripts use more tokens per character), meant to catch examples
 * that are clearly too long for the context window, not to bill.
 * @param messages - the conversation
 */
export function estimateExampleTokens(messages: readonly Pick<ChatMessage, 'content'>[]): number {
  let tokens = TOKENS_PER_CONVERSATION;
  for (const message of messages) tokens += Math.ceil(message.content.length / 4) + TOKENS_PER_MESSAGE;
  return tokens;
}
