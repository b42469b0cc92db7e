// The one CSV scanner (RFC 4180), on bytes: fields are reported as byte spans of the input, so prepare's fast
// path can write request lines by copying and JSON-escaping bytes (no UTF-16 decode, no re-encode), and record
// readers decode only the fields. Delimiters, quotes and newlines are ASCII, and UTF-8 never uses ASCII bytes
// inside a multi-byte character, so the rules hold byte for byte; a non-ASCII delimiter is matched as its UTF-8
// bytes, which likewise only occur as that whole character. Why not csv-parse: measured on 1M review rows
// (335 MB), csv-parse alone took 5.4 s, as long as Miller's whole conversion; this indexOf-driven scanner is
// several times faster. The RFC 4180 cases are checked against csv-parse in the tests (test/records).

import { grown } from './typed-arrays.js';

const LF = 10;
const CR = 13;
const QUOTE = 34;
const EMPTY = Buffer.alloc(0);

// What scanning a field (or a blank line) found.
const MORE = 0; // a delimiter: another field follows
const DONE = 1; // the record ended
const PARTIAL = 2; // the input ends inside the record: wait for more
const ERROR = 3; // malformed: `error` says why
const SKIPPED = 4; // a blank line
const LAST = 5; // the record ended with the input (no line end)

const SHORT_FIELD = 24;
const QUOTE_INSIDE = 'a quote appears inside an unquoted field';

/** The span flag of a quoted field holding doubled quotes. */
export const ESCAPED = 2;

/**
 * Receives records as spans: field i is `src[spans[3i] .. spans[3i+1])`; `spans[3i+2]` is {@link ESCAPED} when the
 * field holds doubled quotes (`""` for `"`), else 0.
 */
export interface CsvSink {
  header(fields: string[], line: number): void;
  row(src: Buffer, spans: Int32Array, count: number, line: number): void;
  /** `raw` is the record's source text; `fields` those of a row whose count differs from the header's. */
  invalid(reason: string, line: number, raw: string, fields?: string[]): void;
}

/** `chunk` as a Buffer (a plain Uint8Array is viewed, not copied; text is encoded as UTF-8). */
export function toBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Incremental CSV scanner: feed UTF-8 bytes with `push`, then call `end`.
 * Records may span chunks and lines (quoted newlines); line numbers are physical, 1-based.
 * Empty lines are skipped; a UTF-8 BOM at the very start is dropped; `\r\n` and `\n` both end records.
 * A malformed record is reported with its reason and the scanner resynchronises at the next line end.
 */
export class CsvScanner {
  // The partial record carried to the next chunk: `pending[0 .. pendingLength)`, grown by doubling so a huge
  // record is copied O(1) times per byte, not once per chunk.
  private pending: Buffer = EMPTY;
  private pendingLength = 0;
  // Where the scan of the carried record's last field stopped (see `Resume`), so it is not searched again.
  private resume: Resume | undefined;
  private line = 1;
  private started = false;
  private columns = -1;
  private spans = new Int32Array(3 * 64);
  // The delimiter's first byte, its UTF-8 bytes and what `indexOf` looks for (the byte when it is one byte).
  private readonly delim: number;
  private readonly delimBytes: Buffer;
  private readonly delimNeedle: number | Buffer;
  // State of the scan of the current buffer.
  private src: Buffer = EMPTY;
  private n = 0;
  private pos = 0;
  private final = false;
  private count = 0;
  private error = '';
  // Set by a field scan that ran out of input (absolute positions), for `resume`.
  private partial: Resume | undefined;
  // Cached positions of the next delimiter / LF / quote at or after `pos` (n when none).
  private nextDelim = -1;
  private nextLf = -1;
  private nextQuote = -1;

  /** @param delimiter - one character, not a quote or newline (matched as its UTF-8 bytes) */
  constructor(delimiter: string) {
    this.delimBytes = Buffer.from(delimiter);
    this.delim = this.delimBytes[0]!;
    this.delimNeedle = this.delimBytes.length === 1 ? this.delim : this.delimBytes;
  }

  /** Scan the complete records in `chunk` (plus any carried-over partial record). */
  push(chunk: Buffer, sink: CsvSink): void {
    let src = chunk;
    if (this.pendingLength > 0) {
      this.carry(chunk, 0, chunk.length);
      src = this.pending.subarray(0, this.pendingLength);
    }
    if (!this.started && src.length > 0) {
      if (src.length < 3 && src[0] === 0xef) {
        if (src === chunk) this.carry(chunk, 0, chunk.length);
        return;
      }
      this.started = true;
      if (src[0] === 0xef && src[1] === 0xbb && src[2] === 0xbf) src = src.subarray(3);
    }
    this.keep(src, this.scan(src, false, sink));
  }

  /** Scan what is left at end of input. */
  end(sink: CsvSink): void {
    const src = this.pending.subarray(0, this.pendingLength);
    this.pending = EMPTY;
    this.pendingLength = 0;
    if (src.length > 0) this.scan(src, true, sink);
    this.resume = undefined;
  }

  // Carry `src[from ..)`, the partial record, to the next chunk (nothing when `from` is its end).
  private keep(src: Buffer, from: number): void {
    const length = src.length - from;
    // The pending record still unfinished: it is already in place.
    if (from === 0 && this.pendingLength > 0 && src.buffer === this.pending.buffer && src.byteOffset === this.pending.byteOffset) return;
    // A small tail is copied out of a large buffer, so one huge record does not keep its memory for good.
    if (this.pending.length > 1 << 20 && length < this.pending.length >> 2) this.pending = EMPTY;
    this.pendingLength = 0;
    if (length > 0) this.carry(src, from, src.length);
  }

  // Append `bytes[start .. end)` to the pending record. Copied: the tail must not keep the whole chunk alive.
  private carry(bytes: Buffer, start: number, end: number): void {
    const need = this.pendingLength + end - start;
    if (need > this.pending.length) {
      const next = Buffer.allocUnsafe(Math.max(need, 2 * this.pending.length, 1 << 16));
      this.pending.copy(next, 0, 0, this.pendingLength);
      this.pending = next;
    }
    // Buffer.copy handles overlap (the tail of the pending buffer moved to its start).
    bytes.copy(this.pending, this.pendingLength, start, end);
    this.pendingLength = need;
  }

  // Returns where the unscanned tail (a partial record) starts: `src.length` when there is none.
  private scan(src: Buffer, final: boolean, sink: CsvSink): number {
    this.src = src;
    this.n = src.length;
    this.pos = 0;
    this.final = final;
    this.nextDelim = this.nextLf = this.nextQuote = -1;
    while (this.pos < this.n) {
      const recStart = this.pos;
      const recLine = this.line;
      this.partial = undefined;
      let found = this.blankLine();
      if (found === SKIPPED) continue;
      if (found !== PARTIAL) found = this.fields();
      if (found === ERROR) found = this.resync(recStart, recLine, sink);
      else if (found === DONE) this.emit(recLine, recStart, sink);
      if (found === PARTIAL) {
        // Rescan the partial record with the next chunk, starting on its first line; its last field goes on where
        // this scan stopped (positions are relative to the record, which the next buffer starts with).
        this.line = recLine;
        this.src = EMPTY;
        const p = this.partial as Resume | undefined;
        this.resume = p && { field: p.field - recStart, from: p.from - recStart, escaped: p.escaped, quote: p.quote < 0 ? -1 : p.quote - recStart };
        return recStart;
      }
    }
    this.src = EMPTY;
    this.resume = undefined;
    return this.n;
  }

  private blankLine(): number {
    const { src, n, pos } = this;
    const c0 = src[pos];
    if (c0 === LF) {
      this.pos++;
      this.line++;
      return SKIPPED;
    }
    if (c0 === CR) {
      if (pos + 1 >= n && !this.final) return PARTIAL;
      if (pos + 1 >= n || src[pos + 1] === LF) {
        this.pos += 2;
        this.line++;
        return SKIPPED;
      }
    }
    return DONE;
  }

  private fields(): number {
    this.count = 0;
    for (;;) {
      const found = this.pos < this.n && this.src[this.pos] === QUOTE ? this.quotedField() : this.plainField();
      if (found !== MORE) return found;
    }
  }

  private quotedField(): number {
    const { src, n, final } = this;
    const field = this.pos;
    const valueStart = field + 1;
    let start = valueStart;
    let close: number;
    let escaped = 0;
    const resume = this.resumed();
    if (resume) {
      start = resume.from;
      escaped = resume.escaped;
    }
    for (;;) {
      const q = src.indexOf(QUOTE, start);
      if (q === -1 || (q + 1 === n && !final)) {
        if (!final) return this.wait(field, start, escaped);
        if (q === -1) {
          this.error = 'quoted field is not closed before the end of the input';
          this.pos = n;
          return ERROR;
        }
      }
      if (q + 1 < n && src[q + 1] === QUOTE) {
        start = q + 2;
        escaped = ESCAPED;
        continue;
      }
      close = q;
      break;
    }
    this.pos = close + 1;
    // Count the newlines inside the field (none when the next line end known is beyond it).
    if (this.nextLf < valueStart) this.nextLf = indexOr(src, LF, valueStart, n);
    for (let k = this.nextLf; k < close; k = indexOr(src, LF, k + 1, n)) this.line++;
    this.span(valueStart, close, escaped);
    const found = this.afterQuote();
    return found === PARTIAL ? this.wait(field, start, escaped) : found;
  }

  // The field at `field` waits for more input; `from` is where its search goes on (see `Resume`).
  private wait(field: number, from: number, escaped: number, quote = -1): number {
    this.partial = { field, from, escaped, quote };
    return PARTIAL;
  }

  // The saved scan state when the field at `pos` is the one the last chunk ended in (used once). A field that was
  // empty then may have become a quoted one: the byte at its start says.
  private resumed(): Resume | undefined {
    const resume = this.resume;
    if (resume === undefined || resume.field !== this.pos || resume.from <= resume.field) return undefined;
    this.resume = undefined;
    return resume;
  }

  private afterQuote(): number {
    const { src, n, pos } = this;
    const c = pos < n ? src[pos] : -1;
    if (c === this.delim) {
      const length = this.delimBytes.length;
      if (pos + length > n && !this.final) return PARTIAL;
      if (this.delimAt(pos)) {
        this.pos += length;
        return MORE;
      }
    }
    if (c === LF) {
      this.pos++;
      this.line++;
      return DONE;
    }
    if (c === -1) return this.final ? DONE : PARTIAL;
    if (c === CR) {
      if (pos + 1 >= n) {
        if (!this.final) return PARTIAL;
        this.pos++;
        return DONE;
      }
      if (src[pos + 1] === LF) {
        this.pos += 2;
        this.line++;
        return DONE;
      }
    }
    // Name the whole character, so wait for the rest of one cut at the end of the chunk.
    if (!this.final && pos + utf8Length(c) > n) return PARTIAL;
    this.error = `unexpected character ${JSON.stringify(src.toString('utf8', pos, Math.min(n, pos + 4))[0])} after a closing quote`;
    return ERROR;
  }

  private plainField(): number {
    const { src, n, pos, delim } = this;
    // Short fields (ids, numbers) are found by a byte loop, cheaper than three indexOf calls into C++.
    for (let i = pos, limit = Math.min(n, pos + SHORT_FIELD); i < limit; i++) {
      const b = src[i];
      if (b === delim && this.delimAt(i)) return this.plainEnd(i, i + this.delimBytes.length, MORE);
      if (b === LF) return this.plainEnd(i > pos && src[i - 1] === CR ? i - 1 : i, i + 1, DONE);
      if (b === QUOTE) return this.fail(QUOTE_INSIDE);
    }
    const resume = this.resumed();
    // The bytes before `resume.from` hold no delimiter or LF, and a quote only where the last scan saw one.
    if (resume) this.seek(Math.max(pos, resume.from - this.delimBytes.length + 1), resume.from, resume.quote);
    if (this.nextDelim < pos) this.nextDelim = indexOr(src, this.delimNeedle, pos, n);
    if (this.nextLf < pos) this.nextLf = indexOr(src, LF, pos, n);
    if (this.nextQuote < pos) this.nextQuote = indexOr(src, QUOTE, pos, n);
    const { nextDelim, nextLf } = this;
    if (nextDelim < nextLf) {
      if (this.nextQuote < nextDelim) return this.fail(QUOTE_INSIDE);
      return this.plainEnd(nextDelim, nextDelim + this.delimBytes.length, MORE);
    }
    if (nextLf === n && !this.final) return this.wait(pos, n, 0, this.nextQuote < n ? this.nextQuote : -1);
    let end = nextLf;
    if (end > pos && src[end - 1] === CR) end--;
    if (this.nextQuote < end) return this.fail(QUOTE_INSIDE);
    return this.plainEnd(end, nextLf + 1, nextLf < n ? DONE : LAST);
  }

  // Set the cached positions from where a resumed plain field's last scan stopped.
  private seek(delimFrom: number, from: number, quote: number): void {
    const { src, n } = this;
    this.nextDelim = indexOr(src, this.delimNeedle, delimFrom, n);
    this.nextLf = indexOr(src, LF, from, n);
    this.nextQuote = quote >= 0 ? quote : indexOr(src, QUOTE, from, n);
  }

  // Whether the delimiter's bytes start at `i`.
  private delimAt(i: number): boolean {
    const { delimBytes, src } = this;
    if (delimBytes.length === 1) return true;
    if (i + delimBytes.length > this.n) return false;
    for (let k = 1; k < delimBytes.length; k++) if (src[i + k] !== delimBytes[k]) return false;
    return true;
  }

  // An unquoted field ends at `end`; scanning goes on at `next`.
  private plainEnd(end: number, next: number, found: number): number {
    this.span(this.pos, end, 0);
    this.pos = next;
    if (found === DONE) this.line++;
    return found === LAST ? DONE : found;
  }

  private fail(reason: string): number {
    this.error = reason;
    return ERROR;
  }

  // Resynchronise at the next line end after a malformed record: the rest of that physical line belongs to it.
  private resync(recStart: number, recLine: number, sink: CsvSink): number {
    const { src, n } = this;
    let lf = this.pos >= n ? -1 : src.indexOf(LF, this.pos);
    if (lf === -1 && !this.final) return PARTIAL;
    if (lf === -1) lf = n;
    let rawEnd = lf;
    if (rawEnd > recStart && src[rawEnd - 1] === CR) rawEnd--;
    this.line = recLine + countLf(src, recStart, lf) + (lf < n ? 1 : 0);
    this.pos = lf + 1;
    sink.invalid(this.error, recLine, src.toString('utf8', recStart, rawEnd));
    return SKIPPED;
  }

  private emit(line: number, recStart: number, sink: CsvSink): void {
    const { src, count } = this;
    if (this.columns < 0) {
      this.columns = count;
      sink.header(spanTexts(src, this.spans, count), line);
    } else if (count !== this.columns) {
      const raw = trimEol(src, recStart, Math.min(this.pos, this.n));
      sink.invalid(`expected ${this.columns} fields as in the header, found ${count}`, line, raw, spanTexts(src, this.spans, count));
    } else {
      sink.row(src, this.spans, count, line);
    }
  }

  private span(start: number, end: number, escaped: number): void {
    const f = this.count++;
    if (3 * f + 3 > this.spans.length) this.spans = grown(this.spans, this.spans.length * 2);
    this.spans[3 * f] = start;
    this.spans[3 * f + 1] = end;
    this.spans[3 * f + 2] = escaped;
  }
}

// Buffer's own decoder without toString's argument handling: measured ~8% of reading records (one call a field).
// It is undocumented, so where a Node.js lacks it toString is used.
type Utf8Slicer = Buffer & { utf8Slice(start: number, end: number): string };
const decode: (src: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Partial<Utf8Slicer>).utf8Slice === 'function'
    ? (src, start, end) => (src as Utf8Slicer).utf8Slice(start, end)
    : (src, start, end) => src.toString('utf8', start, end);

/** Field `f` of a record as a string (quotes undoubled). */
export function spanText(src: Buffer, spans: Int32Array, f: number): string {
  const text = decode(src, spans[3 * f]!, spans[3 * f + 1]!);
  return spans[3 * f + 2] === ESCAPED ? text.replaceAll('""', '"') : text;
}

/** The fields of a record as strings (quotes undoubled). */
export function spanTexts(src: Buffer, spans: Int32Array, count: number): string[] {
  const fields: string[] = [];
  for (let f = 0; f < count; f++) fields.push(spanText(src, spans, f));
  return fields;
}

/**
 * Where a field the input ended in stopped: `field` is its start, `from` where the search goes on (the closing
 * quote's, or for an unquoted field the line end's), `escaped` whether a quoted field held `""` so far and `quote`
 * an unquoted field's first quote (-1: none).
 */
interface Resume {
  field: number;
  from: number;
  escaped: number;
  quote: number;
}

function utf8Length(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

function indexOr(src: Buffer, needle: number | Buffer, from: number, none: number): number {
  const at = src.indexOf(needle, from);
  return at === -1 ? none : at;
}

function countLf(src: Buffer, from: number, to: number): number {
  let count = 0;
  for (let k = src.indexOf(LF, from); k !== -1 && k < to; k = src.indexOf(LF, k + 1)) count++;
  return count;
}

function trimEol(src: Buffer, start: number, end: number): string {
  if (end > start && src[end - 1] === LF) end--;
  if (end > start && src[end - 1] === CR) end--;
  return src.toString('utf8', start, end);
}
