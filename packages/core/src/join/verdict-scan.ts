// The byte scanner behind `readVerdict`: reads a result line's verdict without JSON.parse (see `scanVerdict`).

/**
 * The parts of a successful result line the join uses, as byte spans of the line (`-1` start: null) plus numbers.
 * Filled by `readVerdict`; one object is reused for every line.
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
  /** `usage.completion_tokens_details.reasoning_tokens` and `usage.prompt_tokens_details.cached_tokens` (-1: not reported). */
  reasoningTokens: number;
  cachedTokens: number;
}

/** A fresh {@link LineVerdict} to pass to `readVerdict`. */
export function emptyVerdict(): LineVerdict {
  return { idStart: 0, idEnd: 0, status: 0, requestStart: -1, requestEnd: -1, finishStart: -1, finishEnd: -1, contentStart: -1, contentEnd: -1, contentEscaped: false, promptTokens: -1, completionTokens: -1, reasoningTokens: -1, cachedTokens: -1 };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Bytes a JSON string holds as they are: all but a quote, a backslash and control bytes. */
const PLAIN = new Uint8Array(256).map((_, b) => (b >= 0x20 && b !== QUOTE && b !== BACKSLASH ? 1 : 0));
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
  completionDetails: key('completion_tokens_details'),
  promptDetails: key('prompt_tokens_details'),
  reasoningTokens: key('reasoning_tokens'),
  cachedTokens: key('cached_tokens'),
};

/** Returned inside the scanner to give up on a line (see `scanVerdict`); never escapes. */
export const BAIL = -2;
/** A key that decides nothing: its value is skipped. */
const NOT_DECIDING = -3;

/** Read the verdict of `buf[start, end)` into `out` with `scan` (see `scanVerdict`); false for a line of another shape. */
export function scanLine(scan: Scan, buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
  scan.begin(buf, end);
  scan.out = out;
  resetVerdict(out);
  let i = scan.ws(start);
  if (buf[i] !== 0x7b) {
    scan.buf = EMPTY;
    return false;
  }
  i = scan.object(i, TOP);
  scan.buf = EMPTY; // no line kept alive between calls
  return i >= 0 && scan.ws(i) === end;
}

/** Every part of `out` null, as before a line is read. */
export function resetVerdict(out: LineVerdict): void {
  out.requestStart = out.requestEnd = out.finishStart = out.finishEnd = out.contentStart = out.contentEnd = -1;
  out.promptTokens = out.completionTokens = out.reasoningTokens = out.cachedTokens = -1;
  out.contentEscaped = false;
}

const EMPTY = Buffer.alloc(0);

// The objects whose keys decide the verdict, and the keys each must have (bits in the order their keys are tested).
const TOP = 1;
const RESPONSE = 2;
const BODY = 3;
const CHOICE = 4;
const MESSAGE = 5;
const USAGE = 6;
const COMPLETION_DETAILS = 7;
const PROMPT_DETAILS = 8;
const REQUIRED = [0, 0b11, 0b101, 0b1, 0b1, 0, 0, 0, 0];

/** One line's scan (blanks are skipped by `ws` only where the next byte could be one: compact JSON has none), reused for every line (no closure or object per line). */
export class Scan {
  buf: Buffer = EMPTY;
  end = 0;
  out: LineVerdict = emptyVerdict();
  depth = 0;
  /** The last string scanned held an escape. */
  escaped = false;
  /** The deciding key the last member was (its bit), 0 for another key. */
  private bit = 0;
  /** The last token count read (-1: null). */
  num = 0;
  /** Where the status code and the token counts (prompt, completion, reasoning, cached) of the last line start (-1: none), for `VerdictTemplate.learn`. */
  statusAt = -1;
  readonly countAt = new Int32Array(4);

  /** Scan `buf` up to `end` from now on. */
  begin(buf: Buffer, end: number): void {
    this.buf = buf;
    this.end = end;
    this.depth = 0;
    this.statusAt = -1;
    this.countAt.fill(-1);
  }

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
      // One table load a plain byte (most of a line); a quote, backslash or control byte is looked at below.
      while (i < end && PLAIN[buf[i]!] === 1) i++;
      if (i >= end) break;
      const b = buf[i]!;
      if (b === QUOTE) return i + 1;
      if (b < 0x20) return BAIL;
      if (b === BACKSLASH) {
        this.escaped = true;
        const e = buf[++i];
        if (e === 0x75) {
          for (let k = 1; k <= 4; k++) if (i + k >= end || !isHex(buf[i + k])) return BAIL;
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
    if (b === 0x7b) return this.object(i, 0);
    if (b === 0x5b) return this.array(i, false);
    if (b === 0x74) return this.word(i, 0x74727565); // true
    if (b === 0x66) return this.buf[i + 4] === 0x65 && this.word(i + 1, 0x616c7365) !== BAIL ? i + 5 : BAIL; // false
    if (b === 0x6e) return this.word(i, 0x6e756c6c); // null
    return this.number(i);
  }

  private word(i: number, bytes: number): number {
    if (i + 4 > this.end || this.buf.readUInt32BE(i) !== bytes) return BAIL;
    return i + 4;
  }

  isNull(i: number): boolean {
    return this.buf[i] === 0x6e && this.word(i, 0x6e756c6c) !== BAIL;
  }

  /**
   * After the object at `i`; `kind` names a deciding object (its keys are read by {@link member}: an escaped key or
   * a repeated deciding key gives up), 0 any other (values skipped).
   */
  object(i: number, kind: number): number {
    if (++this.depth > MAX_DEPTH) return BAIL;
    const buf = this.buf;
    let seen = 0;
    i = buf[i + 1]! > 0x20 ? i + 1 : this.ws(i + 1);
    if (buf[i] === 0x7d) i = -i - 1; // empty: closed below
    while (i >= 0) {
      if (buf[i] !== QUOTE) return BAIL;
      const keyStart = i;
      const keyEnd = this.string(i);
      if (keyEnd === BAIL || (kind !== 0 && this.escaped)) return BAIL;
      i = buf[keyEnd]! > 0x20 ? keyEnd : this.ws(keyEnd);
      if (buf[i] !== 0x3a) return BAIL;
      i = buf[i + 1]! > 0x20 ? i + 1 : this.ws(i + 1);
      if (kind === 0) i = this.value(i);
      else {
        this.bit = 0;
        i = this.member(kind, keyStart + 1, keyEnd - 1, i);
        if ((seen & this.bit) !== 0) return BAIL;
        seen |= this.bit;
      }
      if (i === BAIL) return BAIL;
      if (buf[i]! <= 0x20) i = this.ws(i);
      if (buf[i] === 0x2c) i = buf[i + 1]! > 0x20 ? i + 1 : this.ws(i + 1);
      else if (buf[i] === 0x7d) i = -i - 1;
      else return BAIL;
    }
    this.depth--;
    return (seen & REQUIRED[kind]!) === REQUIRED[kind] ? -i : BAIL;
  }

  /** After the array at `i`; `choices`: exactly one element, a choice object (else give up). */
  private array(i: number, choices: boolean): number {
    if (++this.depth > MAX_DEPTH) return BAIL;
    const buf = this.buf;
    i = buf[i + 1]! > 0x20 ? i + 1 : this.ws(i + 1);
    if (buf[i] === 0x5d) {
      this.depth--;
      return choices ? BAIL : i + 1;
    }
    for (let n = 0; ; n++) {
      if (choices && (n > 0 || buf[i] !== 0x7b)) return BAIL;
      i = choices ? this.object(i, CHOICE) : this.value(i);
      if (i === BAIL) return BAIL;
      if (buf[i]! <= 0x20) i = this.ws(i);
      if (buf[i] === 0x2c) i = buf[i + 1]! > 0x20 ? i + 1 : this.ws(i + 1);
      else if (buf[i] === 0x5d) {
        this.depth--;
        return i + 1;
      } else return BAIL;
    }
  }

  /** Key `buf[from, to)` (unescaped) is `name`. */
  private is(from: number, to: number, name: Uint8Array): boolean {
    if (to - from !== name.length) return false;
    const buf = this.buf;
    for (let k = 0; k < name.length; k++) if (buf[from + k] !== name[k]) return false;
    return true;
  }

  /** After the value at `at` of key `buf[ks, ke)` in a deciding object of `kind`; sets `bit` for a deciding key. */
  private member(kind: number, ks: number, ke: number, at: number): number {
    let after = NOT_DECIDING;
    switch (kind) {
      case TOP:
        after = this.top(ks, ke, at);
        break;
      case RESPONSE:
        after = this.response(ks, ke, at);
        break;
      case BODY:
        after = this.body(ks, ke, at);
        break;
      case CHOICE:
        after = this.choice(ks, ke, at);
        break;
      case MESSAGE:
        after = this.message(ks, ke, at);
        break;
      case USAGE:
        after = this.usage(ks, ke, at);
        break;
      case COMPLETION_DETAILS:
      case PROMPT_DETAILS:
        after = this.details(kind, ks, ke, at);
        break;
    }
    return after === NOT_DECIDING ? this.value(at) : after;
  }

  // One method per deciding object: each returns after a deciding key's value, or NOT_DECIDING for another key.

  private top(ks: number, ke: number, at: number): number {
    const b = this.buf[at];
    if (this.is(ks, ke, K.customId)) {
      this.bit = 1;
      const after = this.plain(at);
      if (after !== BAIL) {
        this.out.idStart = at + 1;
        this.out.idEnd = after - 1;
      }
      return after;
    }
    if (this.is(ks, ke, K.response)) return this.as(2, b === 0x7b ? this.object(at, RESPONSE) : BAIL);
    if (this.is(ks, ke, K.error)) return this.as(4, this.isNull(at) ? at + 4 : BAIL);
    return NOT_DECIDING;
  }

  private response(ks: number, ke: number, at: number): number {
    const b = this.buf[at];
    const out = this.out;
    if (this.is(ks, ke, K.statusCode)) {
      this.bit = 1;
      const after = this.count(at);
      if (after === BAIL || this.num < 200 || this.num > 299) return BAIL;
      out.status = this.num;
      this.statusAt = at;
      return after;
    }
    if (this.is(ks, ke, K.requestId)) {
      this.bit = 2;
      if (b !== QUOTE) return this.value(at); // not a string: null
      const after = this.plain(at);
      if (after !== BAIL) {
        out.requestStart = at + 1;
        out.requestEnd = after - 1;
      }
      return after;
    }
    if (this.is(ks, ke, K.body)) return this.as(4, b === 0x7b ? this.object(at, BODY) : BAIL);
    return NOT_DECIDING;
  }

  private body(ks: number, ke: number, at: number): number {
    const b = this.buf[at];
    if (this.is(ks, ke, K.choices)) return this.as(1, b === 0x5b ? this.array(at, true) : BAIL);
    // Usage that is not an object: no counts.
    if (this.is(ks, ke, K.usage)) return this.as(2, b === 0x7b ? this.object(at, USAGE) : this.value(at));
    return NOT_DECIDING;
  }

  private choice(ks: number, ke: number, at: number): number {
    const b = this.buf[at];
    if (this.is(ks, ke, K.message)) return this.as(1, b === 0x7b ? this.object(at, MESSAGE) : BAIL);
    if (this.is(ks, ke, K.finishReason)) {
      this.bit = 2;
      if (b !== QUOTE) return this.value(at); // null or not a string: null
      const after = this.plain(at);
      if (after !== BAIL) {
        this.out.finishStart = at + 1;
        this.out.finishEnd = after - 1;
      }
      return after;
    }
    if (this.is(ks, ke, K.logprobs)) return this.as(4, this.isNull(at) ? at + 4 : BAIL);
    return NOT_DECIDING;
  }

  private message(ks: number, ke: number, at: number): number {
    if (!this.is(ks, ke, K.content)) return NOT_DECIDING;
    this.bit = 1;
    if (this.isNull(at)) return at + 4;
    if (this.buf[at] !== QUOTE) return BAIL;
    const after = this.string(at);
    const out = this.out;
    out.contentStart = at + 1;
    out.contentEnd = after - 1;
    out.contentEscaped = this.escaped;
    return after;
  }

  private usage(ks: number, ke: number, at: number): number {
    const b = this.buf[at];
    // The details (reasoning, cached tokens) are read for the spend; one that is not an object reports none.
    if (this.is(ks, ke, K.completionDetails)) return this.as(4, b === 0x7b ? this.object(at, COMPLETION_DETAILS) : this.value(at));
    if (this.is(ks, ke, K.promptDetails)) return this.as(8, b === 0x7b ? this.object(at, PROMPT_DETAILS) : this.value(at));
    const prompt = this.is(ks, ke, K.promptTokens);
    if (!prompt && !this.is(ks, ke, K.completionTokens)) return NOT_DECIDING;
    this.bit = prompt ? 1 : 2;
    const after = this.count(at);
    if (after === BAIL) return BAIL;
    if (prompt) this.out.promptTokens = this.num;
    else this.out.completionTokens = this.num;
    this.countAt[prompt ? 0 : 1] = at;
    return after;
  }

  private details(kind: number, ks: number, ke: number, at: number): number {
    if (!this.is(ks, ke, kind === COMPLETION_DETAILS ? K.reasoningTokens : K.cachedTokens)) return NOT_DECIDING;
    this.bit = 1;
    const after = this.count(at);
    if (after === BAIL) return BAIL;
    if (kind === COMPLETION_DETAILS) this.out.reasoningTokens = this.num;
    else this.out.cachedTokens = this.num;
    this.countAt[kind === COMPLETION_DETAILS ? 2 : 3] = at;
    return after;
  }

  /** After the string without escapes at `at`, or BAIL (also for another value, or a string with escapes). */
  private plain(at: number): number {
    if (this.buf[at] !== QUOTE) return BAIL;
    const after = this.string(at);
    return this.escaped ? BAIL : after;
  }

  /** `after`, with `bit` set to a deciding key's bit once its value (maybe an object with keys of its own) is read. */
  private as(bit: number, after: number): number {
    this.bit = bit;
    return after;
  }

  /** After a small non-negative integer (or null: -1) at `i`, its value in `num`; anything else gives up. */
  count(i: number): number {
    if (this.isNull(i)) {
      this.num = -1;
      return i + 4;
    }
    const after = this.number(i);
    if (after === BAIL || after - i > 9) return BAIL;
    let n = 0;
    for (let k = i; k < after; k++) {
      const d = this.buf[k]! - 0x30;
      if (d < 0 || d > 9) return BAIL;
      n = n * 10 + d;
    }
    this.num = n;
    return after;
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
