import { isUtf8 } from 'node:buffer';
import { KbatchError } from '../errors.js';
import { peekCustomId } from '../internal/line-splitter.js';
import { estimatePromptTokens } from '../realtime/estimate-tokens.js';

/**
 * The estimated prompt (input) tokens of one request line (bytes, without its newline): what a provider such as
 * OpenAI counts against its enqueued-token limit when the batch is queued. The same estimate realtime's rate limiter
 * uses ({@link estimatePromptTokens}), without the completion budget, which is not enqueued. Lines in kbatch's own
 * shape are counted from their bytes ({@link scanLineTokens}); any other line is parsed. A reader of many lines passes
 * one `memo` for them all (the parts that rarely vary are then compared, not scanned again).
 * @throws KbatchError LINE_INVALID when the line is not JSON with a `body.messages` list
 * @example estimateLineTokens(Buffer.from('{"custom_id":"1","body":{"messages":[{"role":"user","content":"abcdefgh"}]}}')) // 6
 */
export function estimateLineTokens(line: Buffer, memo: LineMemo = lineMemo()): number {
  return scanLineTokens(line, memo) ?? parseLineTokens(line);
}

/** The slow path: parse the line and estimate its messages. */
export function parseLineTokens(line: Buffer): number {
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

const bytes = (text: string): Buffer => Buffer.from(text);
const HEAD = bytes('{"custom_id":"');
const ENDPOINT = bytes(',"method":"POST","url":"/v1/chat/completions","body":{"model":"');
const MESSAGES = bytes(',"messages":[');
export const ROLE = bytes('{"role":"');
export const CONTENT = bytes(',"content":"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The fast path: the estimate of a line exactly as kbatch's request builder writes it (custom_id, method, url, then a
 * body of model, messages of string role and content, then other parameters), counted from its bytes without decoding:
 * a content's UTF-16 length is its characters outside escapes (a 4-byte UTF-8 character is two) plus one per escape.
 * Undefined for anything else — other key orders, escaped keys, a `messages` key after the first, invalid UTF-8 or
 * JSON — which the slow path decides, so both always agree.
 */
export function scanLineTokens(line: Buffer, memo: LineMemo = lineMemo()): number | undefined {
  let i = messagesStart(line, memo);
  if (i < 0) return undefined;
  let chars = 0;
  let messages = 0;
  while (line[i] !== 0x5d) {
    if (messages > 0 && line[i++] !== 0x2c) return undefined;
    if (!at(line, i, ROLE)) return undefined;
    i = scanString(line, i + ROLE.length);
    if (i < 0 || !at(line, i, CONTENT)) return undefined;
    i = scanString(line, i + CONTENT.length);
    if (i < 0 || line[i++] !== 0x7d) return undefined;
    chars += scanned.units;
    messages++;
  }
  return plainTail(line, i + 1, memo) && isUtf8(line) ? Math.ceil(chars / 4) + 4 * messages : undefined;
}

/** What a reader of request lines keeps from one line to the next: the parts that rarely vary, compared rather than scanned again. */
export interface LineMemo {
  /** The bytes from the custom_id's closing quote through `"messages":[` of the last line {@link messagesStart} accepted (endpoint, model). */
  header: Buffer | undefined;
  /** The last tail {@link plainTail} found plain (the body parameters after the messages). */
  tail: Buffer | undefined;
}

/** An empty {@link LineMemo}, for one reader of lines. */
export const lineMemo = (): LineMemo => ({ header: undefined, tail: undefined });

/**
 * Where the first message starts in a line of kbatch's own shape (custom_id, method, url, body: model, then messages),
 * -1 for any other line.
 */
export function messagesStart(line: Buffer, memo: LineMemo): number {
  if (!at(line, 0, HEAD)) return -1;
  const idEnd = scanString(line, HEAD.length);
  if (idEnd < 0) return -1;
  if (memo.header !== undefined && sameAt(line, idEnd, memo.header)) return idEnd + memo.header.length;
  if (!at(line, idEnd, ENDPOINT)) return -1;
  const i = scanString(line, idEnd + ENDPOINT.length);
  if (i < 0 || !at(line, i, MESSAGES)) return -1;
  memo.header = Buffer.from(line.subarray(idEnd, i + MESSAGES.length));
  return i + MESSAGES.length;
}

// Byte by byte: the prefixes are short, and a native compare costs more to call than this loop.
export function at(line: Buffer, offset: number, expected: Buffer): boolean {
  if (line.length < offset + expected.length) return false;
  for (let k = 0; k < expected.length; k++) if (line[offset + k] !== expected[k]) return false;
  return true;
}

/** {@link at} for a longer run of bytes (one native comparison). */
function sameAt(line: Buffer, offset: number, expected: Buffer): boolean {
  return line.length >= offset + expected.length && line.compare(expected, 0, expected.length, offset, offset + expected.length) === 0;
}

/** The UTF-16 length of the string {@link scanString} last read (one reused cell: no allocation per string). */
const scanned = { units: 0 };

/**
 * The index after the closing quote of a JSON string whose first character is at `start` (-1 if it is not valid JSON),
 * counting its UTF-16 units into {@link scanned}: one per escape and per 1–3-byte character, two per 4-byte one.
 */
function scanString(line: Buffer, start: number): number {
  let units = 0;
  for (let i = start; i < line.length; ) {
    const b = line[i]!;
    if (b === QUOTE) {
      scanned.units = units;
      return i + 1;
    }
    if (b < 0x20) return -1;
    if (b !== BACKSLASH) {
      if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
      i++;
      continue;
    }
    const escape = line[i + 1];
    if (escape === 0x75) {
      if (!/^[0-9a-fA-F]{4}$/.test(line.toString('latin1', i + 2, i + 6))) return -1;
      i += 6;
    } else if (escape !== undefined && '"\\/bfnrt'.includes(String.fromCharCode(escape))) i += 2;
    else return -1;
    units++;
  }
  return -1;
}

// What follows the messages (from `start`): `}}`, or more body parameters that are valid JSON, hold no escape and no
// second `messages`.
export function plainTail(line: Buffer, start: number, memo: LineMemo): boolean {
  if (line.length === start + 2 && line[start] === 0x7d && line[start + 1] === 0x7d) return true;
  if (memo.tail !== undefined && memo.tail.length === line.length - start && sameAt(line, start, memo.tail)) return true;
  const tail = line.subarray(start);
  if (tail[tail.length - 1] !== 0x7d || tail.includes(BACKSLASH) || tail.includes('"messages"')) return false;
  try {
    JSON.parse(`{"m":0${tail.toString('utf8', 0, tail.length - 1)}`);
  } catch {
    return false;
  }
  memo.tail = Buffer.from(tail);
  return true;
}
