import { KbatchError } from '../errors.js';

const FENCE = /```[a-zA-Z0-9_-]*[ \t]*\r?\n?([\s\S]*?)```/;

/**
 * Parse a model answer as JSON. Accepts bare JSON, JSON inside a ``` fence (```json or plain), and —
 * as a last resort — the outermost `{…}` or `[…]` span of a sentence like "Here it is: {…}".
 * Anything else is ANSWER_INVALID.
 * @example parseJsonAnswer('```json\n{"a":1}\n```') // { a: 1 }
 */
export function parseJsonAnswer(answer: string | null | undefined): unknown {
  if (typeof answer !== 'string' || answer.trim() === '') {
    throw new KbatchError('ANSWER_INVALID', 'answer is empty, expected JSON');
  }
  const candidates: string[] = [answer.trim()];
  const fenced = FENCE.exec(answer);
  if (fenced) candidates.push(fenced[1]!.trim());
  for (const [open, close] of [['{', '}'], ['[', ']']] as const) {
    const start = answer.indexOf(open);
    const end = answer.lastIndexOf(close);
    if (start !== -1 && end > start) candidates.push(answer.slice(start, end + 1));
  }
  let firstError: unknown;
  for (const text of candidates) {
    try {
      return JSON.parse(text);
    } catch (err) {
      firstError ??= err;
    }
  }
  const shown = answer.length > 80 ? `${answer.slice(0, 77)}...` : answer;
  throw new KbatchError('ANSWER_INVALID', `answer is not valid JSON: ${JSON.stringify(shown)}`, { cause: firstError });
}
