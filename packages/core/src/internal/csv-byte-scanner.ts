// The CsvScanner algorithm on bytes instead of decoded text, for the CSV fast path of prepare: fields are
// reported as byte spans of the input, so request lines can be written by copying and JSON-escaping bytes
// with no UTF-16 decode, no JSON.stringify and no re-encode. Delimiters, quotes and newlines are ASCII, and
// UTF-8 never uses ASCII bytes inside a multi-byte character, so the same rules apply byte for byte. Errors,
// reasons, line numbers and resynchronisation are the same as CsvScanner's (the tests compare both).

const LF = 10;
const CR = 13;
const QUOTE = 34;
const EMPTY = Buffer.alloc(0);

/** Receives records as spans: field i is `src[spans[3i] .. spans[3i+1])`, quoted when `spans[3i+2]` is 1. */
export interface CsvByteSink {
  header(fields: string[], line: number): void;
  row(src: Buffer, spans: Int32Array, count: number, line: number): void;
  /** `fields`: those of a row whose count differs from the header's (as CsvSink.invalid). */
  invalid(reason: string, line: number, raw: string, fields?: string[]): void;
}

/** Incremental byte-level CSV scanner (see CsvScanner for the rules). */
export class CsvByteScanner {
  private rest: Buffer = EMPTY;
  private line = 1;
  private started = false;
  private columns = -1;
  private spans = new Int32Array(3 * 64);

  constructor(private readonly delim: number) {}

  push(chunk: Buffer, sink: CsvByteSink): void {
    let src = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    if (!this.started && src.length > 0) {
      if (src.length < 3 && src[0] === 0xef) {
        this.rest = src;
        return;
      }
      this.started = true;
      if (src[0] === 0xef && src[1] === 0xbb && src[2] === 0xbf) src = src.subarray(3);
    }
    this.rest = this.scan(src, false, sink);
  }

  end(sink: CsvByteSink): void {
    const src = this.rest;
    this.rest = EMPTY;
    if (src.length > 0) this.scan(src, true, sink);
  }

  private emit(src: Buffer, count: number, line: number, recStart: number, end: number, sink: CsvByteSink): void {
    if (this.columns < 0) {
      this.columns = count;
      sink.header(spanTexts(src, this.spans, count), line);
    } else if (count !== this.columns) {
      sink.invalid(`expected ${this.columns} fields as in the header, found ${count}`, line, trimEol(src, recStart, end), spanTexts(src, this.spans, count));
    } else {
      sink.row(src, this.spans, count, line);
    }
  }

  private push3(f: number, start: number, end: number, quoted: number): void {
    if (3 * f + 3 > this.spans.length) {
      const bigger = new Int32Array(this.spans.length * 2);
      bigger.set(this.spans);
      this.spans = bigger;
    }
    this.spans[3 * f] = start;
    this.spans[3 * f + 1] = end;
    this.spans[3 * f + 2] = quoted;
  }

  private scan(src: Buffer, final: boolean, sink: CsvByteSink): Buffer {
    const n = src.length;
    const delim = this.delim;
    let pos = 0;
    let line = this.line;
    let nextDelim = -1;
    let nextLf = -1;
    let nextQuote = -1;
    let recStart = 0;
    let recLine = line;
    let partial = false;
    records: while (pos < n) {
      recStart = pos;
      recLine = line;
      partial = true;
      const c0 = src[pos];
      if (c0 === LF) {
        pos++;
        line++;
        partial = false;
        continue;
      }
      if (c0 === CR) {
        if (pos + 1 >= n && !final) break;
        if (pos + 1 >= n || src[pos + 1] === LF) {
          pos += 2;
          line++;
          partial = false;
          continue;
        }
      }
      let count = 0;
      let error: string | undefined;
      fields: for (;;) {
        if (pos < n && src[pos] === QUOTE) {
          const valueStart = pos + 1;
          let start = valueStart;
          let close: number;
          for (;;) {
            const q = src.indexOf(QUOTE, start);
            if (q === -1 || (q + 1 === n && !final)) {
              if (!final) break records;
              if (q === -1) {
                error = 'quoted field is not closed before the end of the input';
                pos = n;
                break fields;
              }
            }
            if (q + 1 < n && src[q + 1] === QUOTE) {
              start = q + 2;
              continue;
            }
            close = q;
            pos = q + 1;
            break;
          }
          for (let k = src.indexOf(LF, valueStart); k !== -1 && k < close; k = src.indexOf(LF, k + 1)) line++;
          this.push3(count++, valueStart, close, 1);
          const c = pos < n ? src[pos] : -1;
          if (c === delim) {
            pos++;
            continue;
          }
          if (c === LF) {
            pos++;
            line++;
            break;
          }
          if (c === -1) {
            if (!final) break records;
            break;
          }
          if (c === CR) {
            if (pos + 1 >= n) {
              if (!final) break records;
              pos++;
              break;
            }
            if (src[pos + 1] === LF) {
              pos += 2;
              line++;
              break;
            }
          }
          error = `unexpected character ${JSON.stringify(src.toString('utf8', pos, Math.min(n, pos + 4))[0])} after a closing quote`;
          break;
        } else {
          if (nextDelim < pos) {
            nextDelim = src.indexOf(delim, pos);
            if (nextDelim === -1) nextDelim = n;
          }
          if (nextLf < pos) {
            nextLf = src.indexOf(LF, pos);
            if (nextLf === -1) nextLf = n;
          }
          if (nextQuote < pos) {
            nextQuote = src.indexOf(QUOTE, pos);
            if (nextQuote === -1) nextQuote = n;
          }
          if (nextDelim < nextLf) {
            if (nextQuote < nextDelim) {
              error = 'a quote appears inside an unquoted field';
              break;
            }
            this.push3(count++, pos, nextDelim, 0);
            pos = nextDelim + 1;
            continue;
          }
          if (nextLf === n && !final) break records;
          let end = nextLf;
          if (end > pos && src[end - 1] === CR) end--;
          if (nextQuote < end) {
            error = 'a quote appears inside an unquoted field';
            break;
          }
          this.push3(count++, pos, end, 0);
          if (nextLf < n) line++;
          pos = nextLf + 1;
          break;
        }
      }
      if (error !== undefined) {
        let lf = pos >= n ? -1 : src.indexOf(LF, pos);
        if (lf === -1 && !final) break records;
        if (lf === -1) lf = n;
        let rawEnd = lf;
        if (rawEnd > recStart && src[rawEnd - 1] === CR) rawEnd--;
        line = recLine + countLf(src, recStart, lf) + (lf < n ? 1 : 0);
        pos = lf + 1;
        partial = false;
        sink.invalid(error, recLine, src.toString('utf8', recStart, rawEnd));
        continue;
      }
      partial = false;
      this.line = line;
      this.emit(src, count, recLine, recStart, Math.min(pos, n), sink);
    }
    if (!partial) {
      this.line = line;
      return EMPTY;
    }
    this.line = recLine;
    // Copy: the tail must not keep the whole chunk alive.
    return Buffer.from(src.subarray(recStart));
  }
}

/** The fields of a record as strings (quotes undoubled). */
export function spanTexts(src: Buffer, spans: Int32Array, count: number): string[] {
  const fields: string[] = [];
  for (let f = 0; f < count; f++) {
    const text = src.toString('utf8', spans[3 * f]!, spans[3 * f + 1]!);
    fields.push(spans[3 * f + 2] === 1 ? text.replaceAll('""', '"') : text);
  }
  return fields;
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
