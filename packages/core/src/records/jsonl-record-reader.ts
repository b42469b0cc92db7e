import { StringDecoder } from 'node:string_decoder';
import { invalidUtf8Reason } from '../internal/utf8.js';
import { parseFlatJsonLine } from './flat-json-line.js';
import { RecordReader, type RecordReaderOptions } from './record-reader.js';
import { sourceRecord, type SourceRecord } from './source-record.js';

/** JSON Lines records: one object per non-blank line. */
export class JsonlRecordReader extends RecordReader {
  private rest = '';
  private line = 0;
  private readonly decoder: StringDecoder;
  /**
   * UTF-8 bytes are split into lines as bytes (a line feed is never part of a longer character), and the usual flat
   * line is read from them (see `parseFlatJsonLine`); any other line is decoded and parsed as text.
   */
  private readonly bytes: boolean;
  /** The start of a line the last chunk did not end, as bytes (see {@link bytes}). */
  private restParts: Buffer[] = [];
  /** True once a text chunk came: the decoder may hold part of a character, so later bytes are decoded as text too. */
  private sawText = false;
  /** The previous flat line's keys (see `parseFlatJsonLine`). */
  private readonly keys: string[] = [];

  constructor(file: string, opts: RecordReaderOptions) {
    super(file, opts);
    this.decoder = new StringDecoder(opts.encoding);
    this.bytes = opts.encoding === 'utf8';
  }

  push(chunk: Buffer | string): SourceRecord[] {
    if (this.bytes && !this.sawText && typeof chunk !== 'string') {
      this.check(chunk);
      return this.pushBytes(chunk);
    }
    if (typeof chunk === 'string') this.sawText = true;
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    this.check(chunk);
    return this.pushText(this.bytesLeft() + text);
  }

  end(): SourceRecord[] {
    this.checkEnd();
    const done = this.pushText(this.decoder.end());
    if (this.restParts.length > 0) {
      const last = Buffer.concat(this.restParts);
      this.restParts = [];
      this.lineOfBytes(last, 0, last.length);
    }
    if (this.rest !== '') this.parseLine(this.rest, 0, this.rest.length);
    if (done.length > 0) this.batch.unshift(...done);
    this.rest = '';
    return this.take();
  }

  private pushBytes(chunk: Buffer): SourceRecord[] {
    let start = 0;
    let lf = chunk.indexOf(0x0a);
    if (this.restParts.length > 0) {
      if (lf === -1) {
        this.restParts.push(Buffer.from(chunk));
        return this.take();
      }
      this.restParts.push(chunk.subarray(0, lf));
      const line = Buffer.concat(this.restParts);
      this.restParts = [];
      this.lineOfBytes(line, 0, line.length);
      start = lf + 1;
      lf = chunk.indexOf(0x0a, start);
    }
    for (; lf !== -1; lf = chunk.indexOf(0x0a, start)) {
      this.lineOfBytes(chunk, start, lf);
      start = lf + 1;
    }
    // Copied: a source may reuse its chunk's memory once it is handed on.
    if (start < chunk.length) this.restParts.push(Buffer.from(chunk.subarray(start)));
    return this.take();
  }

  /** The line `buf[start, end)` (without its line feed): read from its bytes when it is flat, else as text. */
  private lineOfBytes(buf: Buffer, start: number, end: number): void {
    const last = end > start && buf[end - 1] === 0x0d ? end - 1 : end;
    const data = parseFlatJsonLine(buf, start, last, this.keys);
    if (data === null) {
      const text = buf.toString('utf8', start, end);
      this.parseLine(text, 0, text.length);
      return;
    }
    const line = ++this.line;
    this.batch.push(sourceRecord(++this.count, line, data));
  }

  /** The unfinished line of bytes, as text, when text comes after bytes (and the bytes are dropped). */
  private bytesLeft(): string {
    if (this.restParts.length === 0) return '';
    const text = Buffer.concat(this.restParts).toString('utf8');
    this.restParts = [];
    return text;
  }

  private pushText(text: string): SourceRecord[] {
    const all = this.rest === '' ? text : this.rest + text;
    let start = 0;
    for (let lf = all.indexOf('\n'); lf !== -1; lf = all.indexOf('\n', start)) {
      this.parseLine(all, start, lf);
      start = lf + 1;
    }
    this.rest = all.slice(start);
    return this.take();
  }

  private parseLine(text: string, start: number, end: number): void {
    const line = ++this.line;
    if (this.line === 1 && text.charCodeAt(start) === 0xfeff) start++;
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    const raw = text.slice(start, end);
    if (raw.trim() === '') return;
    const bad = this.suspect ? raw.indexOf('\uFFFD') : -1;
    if (bad !== -1) {
      this.reject(line, invalidUtf8Reason(`at column ${bad + 1}`), raw, { code: 'INPUT_ENCODING' });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      this.reject(line, `invalid JSON: ${(err as Error).message}`, raw);
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.reject(line, 'the line is valid JSON but not an object', raw);
      return;
    }
    this.batch.push(sourceRecord(++this.count, line, value as Record<string, unknown>));
  }
}
