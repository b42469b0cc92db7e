// A result line's custom_id, from its bytes when it can be (no zod here: the index worker loads this, not the schemas).
import { KbatchError } from '../errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CUSTOM_ID = Buffer.from('custom_id');

/**
 * The top-level `custom_id` of a JSON result line read from its bytes without parsing the line (it comes near the
 * start of every line kbatch and the batch APIs write), or null when unsure — escapes, an odd shape, a line not
 * ending in `}` (torn) — and the caller parses the line instead.
 */
export function peekCustomId(buf: Buffer, start = 0, end = buf.length): string | null {
  if (buf[start] !== 0x7b || buf[end - 1] !== 0x7d) return null;
  let depth = 0;
  let keyNext = false;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === QUOTE) {
      const close = stringEnd(buf, i + 1, end);
      if (close === -1) return null;
      if (depth === 1 && keyNext && close - i - 1 === CUSTOM_ID.length && buf.compare(CUSTOM_ID, 0, CUSTOM_ID.length, i + 1, close) === 0) {
        return valueAfterKey(buf, close + 1, end);
      }
      keyNext = false;
      i = close;
    } else if (b === 0x7b || b === 0x5b) {
      depth++;
      keyNext = b === 0x7b;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    } else if (b === 0x2c) {
      keyNext = true;
    }
  }
  return null;
}

/** Index of the quote closing the string that starts at `start` (before `end`), or -1. */
function stringEnd(buf: Buffer, start: number, end: number): number {
  for (let i = buf.indexOf(QUOTE, start); i !== -1 && i < end; i = buf.indexOf(QUOTE, i + 1)) {
    let slashes = 0;
    while (buf[i - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return i;
  }
  return -1;
}

/** The string or integer value after `"custom_id"` (at `i`, before the colon), or null to let JSON.parse decide. */
function valueAfterKey(buf: Buffer, i: number, limit: number): string | null {
  while (buf[i] === 0x20 || buf[i] === 0x09) i++;
  if (buf[i++] !== 0x3a) return null;
  while (buf[i] === 0x20 || buf[i] === 0x09) i++;
  if (buf[i] === QUOTE) {
    const end = buf.indexOf(QUOTE, i + 1);
    if (end === -1 || end >= limit) return null;
    const text = buf.toString('utf8', i + 1, end);
    return text.includes('\\') ? null : text;
  }
  let end = i;
  while (end < limit && buf[end]! >= 0x30 && buf[end]! <= 0x39) end++;
  const after = buf[end];
  return end > i && end - i <= 15 && buf[i] !== 0x30 && (after === 0x2c || after === 0x7d || after === 0x20) ? buf.toString('latin1', i, end) : null;
}

/**
 * The custom_id of a result line: read from its bytes (see {@link peekCustomId}), else by parsing it; a line that
 * is not JSON or has no custom_id is RESPONSE_INVALID.
 */
export function customIdOfLine(buf: Buffer, at: { start: number; end: number; file: string; line: number }): string {
  const peeked = peekCustomId(buf, at.start, at.end);
  if (peeked !== null) return peeked;
  const { file, line: lineNo } = at;
  let value: { custom_id?: unknown } | null;
  try {
    value = JSON.parse(buf.toString('utf8', at.start, at.end)) as { custom_id?: unknown } | null;
  } catch (err) {
    throw new KbatchError('RESPONSE_INVALID', `${file}:${lineNo} is not valid JSON: ${(err as Error).message}`, { file, line: lineNo, cause: err });
  }
  const id = value?.custom_id;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new KbatchError('RESPONSE_INVALID', `${file}:${lineNo} is not a batch result (custom_id is missing)`, { file, line: lineNo });
  }
  return String(id);
}
