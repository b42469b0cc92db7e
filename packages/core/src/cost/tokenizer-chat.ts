// A chat request's prompt tokens: its messages' text plus the chat template's framing, per tokenizer.
import { approximateChatTokens, type TextTokenizer } from './tokenizer.js';

/** A chat message as a request body holds it (content is a string in kbatch's own requests). */
export interface ChatMessageLike {
  role: string;
  content?: unknown;
  name?: string;
}

/**
 * The prompt tokens a chat request is billed for: the tokenizer's count of each message plus its template.
 * - o200k_base (OpenAI): 3 tokens per message (`<|im_start|>`, `<|im_sep|>`, `<|im_end|>`) + its role + 1 per `name`,
 *   and 3 for the reply's priming (`<|im_start|>assistant<|im_sep|>`), as OpenAI's cookbook "How to count tokens
 *   with tiktoken" counts (tokens_per_message = 3, tokens_per_name = 1, + 3).
 * - llama3: Llama 3.x's chat template (tokenizer_config.json of meta-llama/Llama-3.1-8B-Instruct): `<|begin_of_text|>`,
 *   per message `<|start_header_id|>role<|end_header_id|>\n\n` + trimmed content + `<|eot_id|>`, then the reply's
 *   header `<|start_header_id|>assistant<|end_header_id|>\n\n`. Llama 3.1, 3.2 and 3.3 templates always open with a
 *   system message holding "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" before any system
 *   prompt given (counted here with the template's default date).
 * - approximate: characters / 4 + 4 per message.
 * Content that is not a string (parts) is counted as its JSON text.
 */
export function chatPromptTokens(tokenizer: TextTokenizer, messages: readonly ChatMessageLike[], model: string): number {
  if (tokenizer.kind === 'o200k_base') return openAiChat(tokenizer, messages);
  if (tokenizer.kind === 'llama3') return llamaChat(tokenizer, messages, DATED_LLAMA.test(model));
  return approximateChatTokens({ messages: messages as Array<{ role: 'user'; content: string }> });
}

const text = (content: unknown): string => (typeof content === 'string' ? content : content === undefined || content === null ? '' : JSON.stringify(content));

function openAiChat(tokenizer: TextTokenizer, messages: readonly ChatMessageLike[]): number {
  let total = 3;
  for (const m of messages) {
    total += 3 + tokenizer.count(m.role) + tokenizer.count(text(m.content));
    if (typeof m.name === 'string') total += 1 + tokenizer.count(m.name);
  }
  return total;
}

/** Llama 3.1 and later 3.x templates add the dated system preamble. */
export const DATED_LLAMA = /llama-?3\.[1-9]/i;
export const LLAMA_PREAMBLE = 'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n';
/** `<|start_header_id|>`, `<|end_header_id|>`, `<|eot_id|>`: special tokens, one each. */
const LLAMA_FRAME = 3;

function llamaChat(tokenizer: TextTokenizer, messages: readonly ChatMessageLike[], dated: boolean): number {
  // <|begin_of_text|>, and the reply's header: <|start_header_id|>assistant<|end_header_id|>\n\n
  let total = 1 + 2 + tokenizer.count('assistant') + tokenizer.count('\n\n');
  let rest = messages;
  if (dated) {
    const system = messages[0]?.role === 'system' ? text(messages[0].content).trim() : '';
    if (messages[0]?.role === 'system') rest = messages.slice(1);
    total += LLAMA_FRAME + tokenizer.count('system') + tokenizer.count(`\n\n${LLAMA_PREAMBLE}${system}`);
  }
  for (const m of rest) total += LLAMA_FRAME + tokenizer.count(m.role) + tokenizer.count(`\n\n${text(m.content).trim()}`);
  return total;
}
