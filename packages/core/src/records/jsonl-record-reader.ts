import { StringDecoder } from 'node:string_decoder';
import { invalidUtf8Reason } from '../internal/utf8.js';
import { RecordReader, type RecordReaderOptions } from './record-reader.js';
import type { SourceRecord } from './source-record.js';

/** JSON Lines records: one object per non-blank line. */
export class JsonlRecordReader extends RecordReader {
  private rest = '';
  private line = 0;
  private readonly decoder: StringDecoder;

  constructor(file: string, opts: RecordReaderOptions) {
    super(file, opts);
    this.decoder = new StringDecoder(opts.encoding);
  }

  push(chunk: Buffer | string): SourceRecord[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    this.check(chunk);
    return this.pushText(text);
  }

  end(): SourceRecord[] {
    this.checkEnd();
    this.pushText(this.decoder.end());
    if (this.rest !== '') this.parseLine(this.rest, 0, this.rest.length);
    this.rest = '';
    return this.take();
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
    this.batch.push({ index: ++this.count, line, data: value as Record<string, unknown> });
  }
}
