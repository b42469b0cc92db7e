// What the join needs of the usual result line (a 2xx chat completion), read from its bytes in the index pass.

/**
 * The parts of a successful result line the join uses, as byte spans of the line (`-1` start: null) plus numbers.
 * Filled by {@link readVerdict}; one object is reused for every line.
 */
export interface LineVerdict {
  idStart: number;
  idEnd: number;
  status: number;
  requestStart: number;
  requestEnd: number;
  finishStart: number;
  finishEnd: number;
  contentStart: number;
  contentEnd: number;
  /** The content holds JSON escapes (decode it with JSON.parse). */
  contentEscaped: boolean;
  /** -1: null. */
  promptTokens: number;
  completionTokens: number;
}

/** A fresh {@link LineVerdict} to pass to {@link readVerdict}. */
export function emptyVerdict(): LineVerdict {
  return { idStart: 0, idEnd: 0, status: 0, requestStart: -1, requestEnd: -1, finishStart: -1, finishEnd: -1, contentStart: -1, contentEnd: -1, contentEscaped: false, promptTokens: -1, completionTokens: -1 };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Deepest nesting the scanner follows; deeper lines take the full parse. */
const MAX_DEPTH = 64;

const key = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const K = {
  customId: key('custom_id'),
  response: key('response'),
  error: key('error'),
  statusCode: key('status_code'),
  requestId: key('request_id'),
  body: key('body'),
  choices: key('choices'),
  usage: key('usage'),
  message: key('message'),
  finishReason: key('finish_reason'),
  logprobs: key('logprobs'),
  content: key('content'),
  promptTokens: key('prompt_tokens'),
  completionTokens: key('completion_tokens'),
};

/** Thrown inside the scanner to give up on a line (caught in {@link readVerdict}); never escapes. */
const BAIL = -2;

/**
 * Read a result line's verdict from its bytes `buf[start, end)` without JSON.parse, when the line is valid JSON of the
 * usual shape: a string custom_id, `error` null or absent, a response with an integer 2xx status and a chat completion
 * body with exactly one choice whose message content is a string or null, no logprobs, `finish_reason` and
 * `request_id` strings or null, integer token counts. Any other line — malformed, an escaped or repeated deciding
 * key, a failure, several choices, logprobs, content parts — returns false and takes `parseResultLine`, so
 * whatever this accepts, the full parse would judge the same (the tests hold the two side by side).
 */
export function readVerdict(buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
  const s = new Scan(buf, end, out);
  let i = s.ws(start);
  if (buf[i] !== 0x7b) return false;
  i = s.top(i);
  return i >= 0 && s.ws(i) === end;
}

/** Which deciding keys an object has shown (a repeat gives up: JSON.parse keeps the last one). */
class Seen {
  bits = 0;
  once(bit: number): boolean {
    if ((this.bits & bit) !== 0) return false;
    this.bits |= bit;
    return true;
  }
}

class Scan {
  /** The last string scanned held an escape. */
  private escaped = false;
  private depth = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly end: number,
    private readonly out: LineVerdict,
  ) {}

  ws(i: number): number {
    const buf = this.buf;
    const end = this.end;
    while (i < end) {
      const b = buf[i]!;
      if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) break;
      i++;
    }
    return i;
  }

  /** After the string opening at `i` (a quote), or BAIL; sets `escaped`. */
  string(i: number): number {
    const buf = this.buf;
    const end = this.end;
    this.escaped = false;
    for (i++; i < end; i++) {
      const b = buf[i]!;
      if (b === QUOTE) return i + 1;
      if (b < 0x20) return BAIL;
      if (b === BACKSLASH) {
        this.escaped = true;
        const e = buf[++i];
        if (e === 0x75) {
          for (let k = 1; k <= 4; k++) if (!isHex(buf[i + k])) return BAIL;
          i += 4;
        } else if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return BAIL;
      }
    }
    return BAIL;
  }

  /** After the JSON number at `i`, or BAIL. */
  number(i: number): number {
    const buf = this.buf;
    const end = this.end;
    if (buf[i] === 0x2d) i++;
    if (i >= end) return BAIL;
    if (buf[i] === 0x30) i++;
    else if (isDigit(buf[i])) i = digitsEnd(buf, i, end);
    else return BAIL;
    if (i < end && buf[i] === 0x2e) {
      if (++i >= end || !isDigit(buf[i])) return BAIL;
      i = digitsEnd(buf, i, end);
    }
    if (i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
      i++;
      if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) i++;
      if (i >= end || !isDigit(buf[i])) return BAIL;
      i = digitsEnd(buf, i, end);
    }
    return i;
  }

  /** After any JSON value at `i` (already past blanks), or BAIL. */
  value(i: number): number {
    const b = this.buf[i];
    if (b === QUOTE) return this.string(i);
    if (b === 0x7b) return this.object(i, null);
    if (b === 0x5b) return this.array(i, null);
    if (b === 0x74) return this.word(i, 0x74727565, 4); // true
    if (b === 0x66) return this.buf[i + 4] === 0x65 && this.word(i + 1, 0x616c7365, 4) !== BAIL ? i + 5 : BAIL; // false
    if (b === 0x6e) return this.word(i, 0x6e756c6c, 4); // null
    return this.number(i);
  }

  private word(i: number, bytes: number, length: number): number {
    if (i + length > this.end || this.buf.readUInt32BE(i) !== bytes) return BAIL;
    return i + length;
  }

  isNull(i: number): boolean {
    return this.buf[i] === 0x6e && this.word(i, 0x6e756c6c, 4) !== BAIL;
  }

  /**
   * After the object at `i`, each key handed to `member(keyStart, keyEnd, valueAt)` (which returns the index after
   * the value, or BAIL); with no `member`, values are skipped. A key with an escape gives up when `member` is given.
   */
  object(i: number, member: ((keyStart: number, keyEnd: number, at: number) => number) | null): number {
    if (++this.depth > MAX_DEPTH) return BAIL;
    const buf = this.buf;
    i = this.ws(i + 1);
    if (buf[i] === 0x7d) {
      this.depth--;
      return i + 1;
    }
    for (;;) {
      if (buf[i] !== QUOTE) return BAIL;
      const keyStart = i;
      const keyEnd = this.string(i);
      if (keyEnd === BAIL || (member && this.escaped)) return BAIL;
      i = this.ws(keyEnd);
      if (buf[i] !== 0x3a) return BAIL;
      i = this.ws(i + 1);
      i = member ? member(keyStart, keyEnd, i) : this.value(i);
      if (i === BAIL) return BAIL;
      i = this.ws(i);
      if (buf[i] === 0x2c) i = this.ws(i + 1);
      else if (buf[i] === 0x7d) {
        this.depth--;
        return i + 1;
      } else return BAIL;
    }
  }

  /** After the array at `i`; `first(at)` reads the first element (null: skip them all); a second element gives up when `first` is given. */
  array(i: number, first: ((at: number) => number) | null): number {
    if (++this.depth > MAX_DEPTH) return BAIL;
    const buf = this.buf;
    i = this.ws(i + 1);
    if (buf[i] === 0x5d) {
      this.depth--;
      return first ? BAIL : i + 1;
    }
    for (let n = 0; ; n++) {
      if (first && n > 0) return BAIL;
      i = first ? first(i) : this.value(i);
      if (i === BAIL) return BAIL;
      i = this.ws(i);
      if (buf[i] === 0x2c) i = this.ws(i + 1);
      else if (buf[i] === 0x5d) {
        this.depth--;
        return i + 1;
      } else return BAIL;
    }
  }

  is(keyStart: number, keyEnd: number, name: Uint8Array): boolean {
    const len = keyEnd - keyStart - 2;
    if (len !== name.length) return false;
    const buf = this.buf;
    for (let k = 0; k < len; k++) if (buf[keyStart + 1 + k] !== name[k]) return false;
    return true;
  }

  /** A string without escapes at `i`: its inner span into out[startKey/endKey]; null: -1. Anything else gives up. */
  plainString(i: number, set: (from: number, to: number) => void, nullable: boolean): number {
    if (this.buf[i] === QUOTE) {
      const after = this.string(i);
      if (after === BAIL || this.escaped) return BAIL;
      set(i + 1, after - 1);
      return after;
    }
    if (nullable && this.isNull(i)) {
      set(-1, -1);
      return i + 4;
    }
    return BAIL;
  }

  /** A small non-negative integer token count at `i` (null: -1); anything else gives up. */
  count(i: number): [number, number] | null {
    if (this.isNull(i)) return [-1, i + 4];
    const after = this.number(i);
    if (after === BAIL || after - i > 9) return null;
    let n = 0;
    for (let k = i; k < after; k++) {
      const d = this.buf[k]! - 0x30;
      if (d < 0 || d > 9) return null;
      n = n * 10 + d;
    }
    return [n, after];
  }

  top(i: number): number {
    const out = this.out;
    const seen = new Seen();
    out.requestStart = out.requestEnd = out.finishStart = out.finishEnd = out.contentStart = out.contentEnd = -1;
    out.promptTokens = out.completionTokens = -1;
    out.contentEscaped = false;
    const after = this.object(i, (ks, ke, at) => {
      if (this.is(ks, ke, K.customId)) {
        if (!seen.once(1) || this.buf[at] !== QUOTE) return BAIL;
        return this.plainString(at, (a, b) => ((out.idStart = a), (out.idEnd = b)), false);
      }
      if (this.is(ks, ke, K.response)) return seen.once(2) && this.buf[at] === 0x7b ? this.response(at) : BAIL;
      if (this.is(ks, ke, K.error)) return seen.once(4) && this.isNull(at) ? at + 4 : BAIL;
      return this.value(at);
    });
    return (seen.bits & 3) === 3 ? after : BAIL;
  }

  private response(i: number): number {
    const out = this.out;
    const seen = new Seen();
    const after = this.object(i, (ks, ke, at) => {
      if (this.is(ks, ke, K.statusCode)) {
        const n = seen.once(1) ? this.count(at) : null;
        if (n === null || n[0] < 200 || n[0] > 299) return BAIL;
        out.status = n[0];
        return n[1];
      }
      if (this.is(ks, ke, K.requestId)) {
        if (!seen.once(2)) return BAIL;
        if (this.buf[at] === QUOTE) return this.plainString(at, (a, b) => ((out.requestStart = a), (out.requestEnd = b)), false);
        return this.value(at); // not a string: null
      }
      if (this.is(ks, ke, K.body)) return seen.once(4) && this.buf[at] === 0x7b ? this.body(at) : BAIL;
      return this.value(at);
    });
    return (seen.bits & 5) === 5 ? after : BAIL;
  }

  private body(i: number): number {
    const seen = new Seen();
    const after = this.object(i, (ks, ke, at) => {
      if (this.is(ks, ke, K.choices)) return seen.once(1) && this.buf[at] === 0x5b ? this.array(at, (c) => (this.buf[c] === 0x7b ? this.choice(c) : BAIL)) : BAIL;
      if (this.is(ks, ke, K.usage)) {
        if (!seen.once(2)) return BAIL;
        return this.buf[at] === 0x7b ? this.usage(at) : this.value(at); // not an object: no counts
      }
      return this.value(at);
    });
    return (seen.bits & 1) === 1 ? after : BAIL;
  }

  private choice(i: number): number {
    const out = this.out;
    const seen = new Seen();
    const after = this.object(i, (ks, ke, at) => {
      if (this.is(ks, ke, K.message)) return seen.once(1) && this.buf[at] === 0x7b ? this.message(at) : BAIL;
      if (this.is(ks, ke, K.finishReason)) {
        if (!seen.once(2)) return BAIL;
        if (this.buf[at] === QUOTE || this.isNull(at)) return this.plainString(at, (a, b) => ((out.finishStart = a), (out.finishEnd = b)), true);
        return this.value(at); // not a string: null
      }
      if (this.is(ks, ke, K.logprobs)) return seen.once(4) && this.isNull(at) ? at + 4 : BAIL;
      return this.value(at);
    });
    return (seen.bits & 1) === 1 ? after : BAIL;
  }

  private message(i: number): number {
    const out = this.out;
    const seen = new Seen();
    return this.object(i, (ks, ke, at) => {
      if (!this.is(ks, ke, K.content)) return this.value(at);
      if (!seen.once(1)) return BAIL;
      if (this.isNull(at)) return at + 4;
      if (this.buf[at] !== QUOTE) return BAIL;
      const after = this.string(at);
      out.contentStart = at + 1;
      out.contentEnd = after - 1;
      out.contentEscaped = this.escaped;
      return after;
    });
  }

  private usage(i: number): number {
    const out = this.out;
    const seen = new Seen();
    return this.object(i, (ks, ke, at) => {
      const prompt = this.is(ks, ke, K.promptTokens);
      if (!prompt && !this.is(ks, ke, K.completionTokens)) return this.value(at);
      if (!seen.once(prompt ? 1 : 2)) return BAIL;
      const n = this.count(at);
      if (n === null) return BAIL;
      if (prompt) out.promptTokens = n[0];
      else out.completionTokens = n[0];
      return n[1];
    });
  }
}

/** Index after the digits from `k` (before `end`). */
function digitsEnd(buf: Buffer, k: number, end: number): number {
  while (k < end && isDigit(buf[k])) k++;
  return k;
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

function isHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}
