// Verdicts of result lines kept off the JS heap (typed arrays and byte pages), turned into results when taken.
import type { BatchResult } from './result-line.js';
import type { LineVerdict } from './result-verdict.js';

/** Longest answer kept inline; a longer one is read from its line when taken. */
const MAX_CONTENT = 2048;
/** Longest custom_id, request id or finish reason kept inline. */
const MAX_ID = 250;
/** Largest token count kept inline (3 bytes; 0xffffff is null). */
const MAX_TOKENS = 0xfffffe;
/** Bytes of custom_ids, request ids and answers a store holds at most (the rest are read from their lines). */
const MAX_BYTES = 96 << 20;
/** The bytes are kept in pages of this size (never copied to grow); a verdict's bytes sit in one page. */
const PAGE = 1 << 20;
/** A length byte: the part is null. */
const NONE8 = 0xff;
/** The finish reason length byte: `stop`, not kept as bytes. */
const STOP = 0xfe;
const NONE16 = 0xffff;
const NONE24 = 0xffffff;
const ESCAPED = 1;
const ASCII = 2;

/** Bytes before a verdict's text: status − 200, lengths of id, request id and finish reason (u8), answer (u16), flags, tokens (u24 ×4: prompt, completion, reasoning, cached). */
const HEAD = 19;

/**
 * Successful results of one index, each as the few bytes the join uses (custom_id, request id, finish reason,
 * answer) after a 19-byte head of numbers, packed in pages: no object on the heap until `result()`, and a verdict
 * is one place in memory (taking results in another order than the lines came costs a cache miss, not ten).
 * `keep` refuses a verdict that would pass the byte budget (the caller keeps its line's position instead).
 */
export class VerdictStore {
  private readonly pages: Buffer[] = [];
  /** Bytes used in the last page. */
  private used = PAGE;

  constructor(private readonly maxBytes = MAX_BYTES) {}

  /**
   * Keep the verdict of the line in `buf`: its slot (where it is: page number × PAGE + offset), or -1 when it does not
   * fit (then read the line).
   */
  keep(buf: Buffer, v: Readonly<LineVerdict>): number {
    const bytes = verdictBytes(buf, v);
    if (bytes === -1) return -1;
    if (!this.room(bytes)) return -1;
    const at = this.used;
    this.used += encodeVerdict(this.pages[this.pages.length - 1]!, at, buf, v);
    return (this.pages.length - 1) * PAGE + at;
  }

  /** Keep a verdict encoded elsewhere (`page[at…]`, as {@link encodeVerdict} wrote it): its slot, or -1 when it does not fit. */
  copy(page: Buffer, at: number): number {
    const bytes = recordBytes(page, at);
    if (!this.room(bytes)) return -1;
    const to = this.used;
    page.copy(this.pages[this.pages.length - 1]!, to, at, at + bytes);
    this.used += bytes;
    return (this.pages.length - 1) * PAGE + to;
  }

  /** Whether `bytes` more fit in the last page (a new page is added when the budget allows). */
  private room(bytes: number): boolean {
    if (this.used + bytes <= PAGE) return true;
    if ((this.pages.length + 1) * PAGE > this.maxBytes) return false;
    this.pages.push(Buffer.allocUnsafe(PAGE));
    this.used = 0;
    return true;
  }

  /** No verdict kept yet. */
  get empty(): boolean {
    return this.pages.length === 0;
  }

  /** A byte of `slot`'s head: reading it brings the verdict into the cache before it is taken (see `LookupAhead`). */
  touch(slot: number): number {
    return this.pages[Math.floor(slot / PAGE)]![slot % PAGE]!;
  }

  /** Whether `slot` is the result of `customId` (compared byte by byte, no string made for an ASCII id). */
  isFor(slot: number, customId: string): boolean {
    const page = this.pages[Math.floor(slot / PAGE)]!;
    const at = slot % PAGE;
    const length = page[at + 1]!;
    if ((page[at + 6]! & ASCII) === 0) return this.customId(slot) === customId;
    if (length !== customId.length) return false;
    const from = at + HEAD;
    for (let k = 0; k < length; k++) if (page[from + k] !== customId.charCodeAt(k)) return false;
    return true;
  }

  /** The custom_id of `slot`. */
  customId(slot: number): string {
    return recordCustomId(this.pages[Math.floor(slot / PAGE)]!, slot % PAGE);
  }

  /** The prompt and completion tokens of `slot` (0 when there are none). */
  tokens(slot: number): { prompt: number; completion: number } {
    return recordTokens(this.pages[Math.floor(slot / PAGE)]!, slot % PAGE);
  }

  /** Token count `which` of `slot` (0 prompt, 1 completion, 2 reasoning, 3 cached); -1 when not reported. */
  count(slot: number, which: 0 | 1 | 2 | 3): number {
    return recordCount(this.pages[Math.floor(slot / PAGE)]!, slot % PAGE, which);
  }

  /**
   * The result of `slot`, as `parseResultLine` makes it from the line, except `body`: not kept (undefined), since the
   * join reads it only for `keepRaw` (and then no verdicts are kept).
   */
  result(slot: number, customId: string): BatchResult {
    const page = this.pages[Math.floor(slot / PAGE)]!;
    const at = slot % PAGE;
    const flags = page[at + 6]!;
    const requestLength = page[at + 2]!;
    const finishLength = page[at + 3]!;
    const contentLength = page[at + 4]! | (page[at + 5]! << 8);
    const prompt = get24(page, at + 7);
    const completion = get24(page, at + 10);
    const reasoning = get24(page, at + 13);
    const cached = get24(page, at + 16);
    let from = at + HEAD + page[at + 1]!;
    let requestId: string | null = null;
    if (requestLength !== NONE8) {
      requestId = text(page, from, requestLength, flags);
      from += requestLength;
    }
    let finishReason: string | null = null;
    if (finishLength === STOP) finishReason = 'stop';
    else if (finishLength !== NONE8) {
      finishReason = finishText(page, from, finishLength) ?? text(page, from, finishLength, flags);
      from += finishLength;
    }
    let response: string | null = null;
    if (contentLength !== NONE16) {
      response = text(page, from, contentLength, flags);
      if ((flags & ESCAPED) !== 0) response = JSON.parse(`"${response}"`) as string;
    }
    const result: BatchResult = {
      customId,
      ok: true,
      statusCode: 200 + page[at]!,
      requestId,
      response,
      finishReason,
      promptTokens: prompt === NONE24 ? null : prompt,
      completionTokens: completion === NONE24 ? null : completion,
      logprobs: null,
      error: null,
      body: undefined,
    };
    if (reasoning !== NONE24) result.reasoningTokens = reasoning;
    if (cached !== NONE24) result.cachedTokens = cached;
    return result;
  }
}

/**
 * The bytes verdict `v` of line `buf` takes when encoded (see {@link encodeVerdict}), or -1 when a part of it is too
 * long to keep (then its line is read instead).
 */
export function verdictBytes(buf: Buffer, v: Readonly<LineVerdict>): number {
  const idLength = v.idEnd - v.idStart;
  const requestLength = v.requestStart === -1 ? 0 : v.requestEnd - v.requestStart;
  const finishLength = v.finishStart === -1 || isStop(buf, v) ? 0 : v.finishEnd - v.finishStart;
  const contentLength = v.contentStart === -1 ? 0 : v.contentEnd - v.contentStart;
  if (idLength > MAX_ID || requestLength > MAX_ID || finishLength > MAX_ID || contentLength > MAX_CONTENT) return -1;
  if (v.promptTokens > MAX_TOKENS || v.completionTokens > MAX_TOKENS || v.reasoningTokens > MAX_TOKENS || v.cachedTokens > MAX_TOKENS) return -1;
  return HEAD + idLength + requestLength + finishLength + contentLength;
}

/**
 * Write verdict `v` of line `buf` at `page[at…]` (room for {@link verdictBytes} is the caller's): a 19-byte head of
 * numbers, then the custom_id, request id, finish reason (not for `stop`) and answer bytes. Returns the bytes written.
 */
export function encodeVerdict(page: Buffer, at: number, buf: Buffer, v: Readonly<LineVerdict>): number {
  const stop = isStop(buf, v);
  const idLength = v.idEnd - v.idStart;
  const requestLength = v.requestStart === -1 ? 0 : v.requestEnd - v.requestStart;
  const finishLength = v.finishStart === -1 || stop ? 0 : v.finishEnd - v.finishStart;
  const contentLength = v.contentStart === -1 ? 0 : v.contentEnd - v.contentStart;
  page[at] = v.status - 200;
  page[at + 1] = idLength;
  page[at + 2] = v.requestStart === -1 ? NONE8 : requestLength;
  page[at + 3] = v.finishStart === -1 ? NONE8 : stop ? STOP : finishLength;
  put16(page, at + 4, v.contentStart === -1 ? NONE16 : contentLength);
  put24(page, at + 7, v.promptTokens === -1 ? NONE24 : v.promptTokens);
  put24(page, at + 10, v.completionTokens === -1 ? NONE24 : v.completionTokens);
  put24(page, at + 13, v.reasoningTokens === -1 ? NONE24 : v.reasoningTokens);
  put24(page, at + 16, v.cachedTokens === -1 ? NONE24 : v.cachedTokens);
  let to = at + HEAD;
  let high = put(page, to, buf, v.idStart, idLength);
  to += idLength;
  if (v.requestStart !== -1) {
    high |= put(page, to, buf, v.requestStart, requestLength);
    to += requestLength;
  }
  if (v.finishStart !== -1 && !stop) {
    high |= put(page, to, buf, v.finishStart, finishLength);
    to += finishLength;
  }
  if (v.contentStart !== -1) {
    high |= put(page, to, buf, v.contentStart, contentLength);
    to += contentLength;
  }
  page[at + 6] = (v.contentEscaped ? ESCAPED : 0) | (high < 0x80 ? ASCII : 0);
  return to - at;
}

/** The bytes of the verdict encoded at `page[at…]`. */
export function recordBytes(page: Buffer, at: number): number {
  const request = page[at + 2]!;
  const finish = page[at + 3]!;
  const content = page[at + 4]! | (page[at + 5]! << 8);
  return HEAD + page[at + 1]! + (request === NONE8 ? 0 : request) + (finish === NONE8 || finish === STOP ? 0 : finish) + (content === NONE16 ? 0 : content);
}

/** The custom_id of the verdict encoded at `page[at…]`. */
export function recordCustomId(page: Buffer, at: number): string {
  return text(page, at + HEAD, page[at + 1]!, page[at + 6]!);
}

/** Token count `which` (0 prompt, 1 completion, 2 reasoning, 3 cached) of the verdict encoded at `page[at…]`; -1 when not reported. */
export function recordCount(page: Buffer, at: number, which: 0 | 1 | 2 | 3): number {
  const n = get24(page, at + 7 + 3 * which);
  return n === NONE24 ? -1 : n;
}

/** The prompt and completion tokens of the verdict encoded at `page[at…]` (0 when there are none). */
export function recordTokens(page: Buffer, at: number): { prompt: number; completion: number } {
  const prompt = get24(page, at + 7);
  const completion = get24(page, at + 10);
  return { prompt: prompt === NONE24 ? 0 : prompt, completion: completion === NONE24 ? 0 : completion };
}

function isStop(buf: Buffer, v: Readonly<LineVerdict>): boolean {
  const f = v.finishStart;
  return v.finishEnd - f === 4 && buf[f] === 0x73 && buf[f + 1] === 0x74 && buf[f + 2] === 0x6f && buf[f + 3] === 0x70;
}

/** Copy `length` bytes of `buf` to `page[to…]` (a loop: Buffer.copy costs more for a few bytes); their OR. */
function put(page: Buffer, to: number, buf: Buffer, from: number, length: number): number {
  let high = 0;
  for (let k = 0; k < length; k++) {
    const b = buf[from + k]!;
    page[to + k] = b;
    high |= b;
  }
  return high;
}

// Little-endian numbers of a verdict's head, by byte (Buffer's read/write methods check their arguments each call).
function put16(page: Buffer, at: number, n: number): void {
  page[at] = n & 0xff;
  page[at + 1] = n >>> 8;
}

function put24(page: Buffer, at: number, n: number): void {
  page[at] = n & 0xff;
  page[at + 1] = (n >>> 8) & 0xff;
  page[at + 2] = n >>> 16;
}

function get24(page: Buffer, at: number): number {
  return page[at]! | (page[at + 1]! << 8) | (page[at + 2]! << 16);
}

/** Bytes of a verdict as text (Latin-1 is UTF-8 when every byte is ASCII, and cheaper to decode). */
function text(page: Buffer, from: number, length: number, flags: number): string {
  return page.toString((flags & ASCII) !== 0 ? 'latin1' : 'utf8', from, from + length);
}

/** The other usual finish reason without a new string each time; null for any other. */
function finishText(page: Buffer, from: number, length: number): string | null {
  if (length === 6 && page[from] === 0x6c && page.toString('latin1', from, from + 6) === 'length') return 'length';
  return null;
}
