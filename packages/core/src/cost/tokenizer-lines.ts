// The prompt tokens of request lines, counted with a real tokenizer at the speed an estimate of a million rows needs.
import { estimateLineTokens, lineMemo } from '../chunk/line-tokens.js';
import { KbatchError } from '../errors.js';
import { peekCustomId } from '../internal/line-splitter.js';
import { LineScanner } from './line-scanner.js';
import { chatPromptTokens, type ChatMessageLike } from './tokenizer-chat.js';
import type { TextTokenizer } from './tokenizer.js';

/**
 * A counter of request lines' prompt tokens (messages + chat template, {@link chatPromptTokens}). Lines in kbatch's
 * own shape take the fast path ({@link LineScanner}): each content string is cut, in its JSON bytes, at every space
 * that follows a plain ASCII character other than whitespace (both vocabularies' pre-tokenizers always split there,
 * and a BPE never merges across a split), and each distinct segment is decoded and counted once, then found again by
 * its bytes. Anything else (other key orders, names, non-string content, text that trimming would change, invalid
 * UTF-8) is parsed and counted whole, so both paths always agree.
 * @throws KbatchError LINE_INVALID when a line is not JSON with a `body.messages` list
 */
export function requestLineCounter(tokenizer: TextTokenizer, model: string): (line: Buffer) => number {
  if (tokenizer.kind === 'approximate') {
    const memo = lineMemo();
    return (line) => estimateLineTokens(line, memo);
  }
  const scanner = new LineScanner(tokenizer, model);
  return (line) => {
    const tokens = scanner.count(line);
    return tokens < 0 ? parsedLineTokens(line, tokenizer, model) : tokens;
  };
}

/** The slow path: the line parsed, its messages counted whole. */
export function parsedLineTokens(line: Buffer, tokenizer: TextTokenizer, model: string): number {
  try {
    const messages = (JSON.parse(line.toString('utf8')) as { body?: { messages?: unknown } } | null)?.body?.messages;
    if (Array.isArray(messages) && messages.every((m) => typeof m === 'object' && m !== null && typeof (m as { role?: unknown }).role === 'string')) {
      return chatPromptTokens(tokenizer, messages as ChatMessageLike[], model);
    }
  } catch {
    // reported below, with the custom_id when one can be read
  }
  const id = peekCustomId(line);
  throw new KbatchError('LINE_INVALID', `request ${id === undefined ? '(no custom_id)' : JSON.stringify(id)}: its prompt tokens cannot be counted (a request line must be JSON with a body.messages list of {role, content})`, {
    ...(id === undefined ? {} : { customId: id }),
  });
}
