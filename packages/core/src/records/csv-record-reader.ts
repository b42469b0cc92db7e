import { KbatchError } from '../errors.js';
import { isAscii } from 'node:buffer';
import { CsvScanner, ESCAPED, spanText, spanTexts, toBuffer, type CsvSink } from '../internal/csv-scanner.js';
import { invalidUtf8Reason, latin1ToUtf8 } from '../internal/utf8.js';
import { RecordReader, type RecordReaderOptions } from './record-reader.js';
import { raggedData } from './rejected-record.js';
import { sourceRecord, type SourceRecord } from './source-record.js';

/** CSV/TSV records through the byte scanner prepare uses: only the fields are decoded, never the whole text. */
export class CsvRecordReader extends RecordReader implements CsvSink {
  private readonly scanner: CsvScanner;
  private readonly latin1: boolean;
  private columns: string[] = [];
  private safeKeys = true;
  private readonly onHeader: RecordReaderOptions['onHeader'];
  // The scanner's current buffer decoded once when it is all ASCII (bytes are then characters): fields are slices.
  private src: Buffer | undefined;
  private text: string | undefined;

  constructor(file: string, opts: RecordReaderOptions, format: 'csv' | 'tsv') {
    super(file, opts);
    this.onHeader = opts.onHeader;
    this.latin1 = opts.encoding === 'latin1';
    this.scanner = new CsvScanner(opts.delimiter ?? (format === 'tsv' ? '\t' : ','));
  }

  push(input: Buffer | string): SourceRecord[] {
    // A plain Uint8Array (from a user's stream) lacks Buffer's methods the scanner uses.
    const chunk = typeof input === 'string' ? input : toBuffer(input);
    this.check(chunk);
    // Text chunks are taken as decoded (their UTF-8 is what they say); Latin-1 bytes become UTF-8.
    const bytes = this.latin1 ? latin1ToUtf8(chunk) : toBuffer(chunk);
    this.scanner.push(bytes, this);
    this.src = this.text = undefined;
    return this.take();
  }

  end(): SourceRecord[] {
    this.checkEnd();
    this.scanner.end(this);
    return this.take();
  }

  header(fields: string[], line: number): void {
    checkHeader(fields, this.file, line);
    this.columns = fields;
    this.safeKeys = !fields.includes('__proto__');
    this.onHeader?.(fields, line);
  }

  row(src: Buffer, spans: Int32Array, count: number, line: number): void {
    const columns = this.columns;
    // Once the input held invalid UTF-8, fields are decoded first to look for U+FFFD (and then used as they are).
    const fields = this.suspect ? spanTexts(src, spans, count) : undefined;
    if (fields !== undefined) {
      const bad = fields.findIndex((f) => f.includes('\uFFFD'));
      if (bad !== -1) {
        this.reject(line, invalidUtf8Reason(`in field "${columns[bad]}"`), JSON.stringify(raggedData(columns, fields)), { code: 'INPUT_ENCODING' });
        return;
      }
    }
    if (src !== this.src) {
      this.src = src;
      this.text = isAscii(src) ? src.toString('latin1') : undefined;
    }
    const data: Record<string, string> = {};
    for (let i = 0; i < columns.length; i++) {
      const value = fields?.[i] ?? (this.text === undefined ? spanText(src, spans, i) : asciiSpanText(this.text, spans, i));
      if (this.safeKeys) data[columns[i]!] = value;
      else Object.defineProperty(data, columns[i]!, { value, enumerable: true, writable: true, configurable: true });
    }
    this.batch.push(sourceRecord(++this.count, line, data));
  }

  invalid(reason: string, line: number, raw: string, fields?: string[]): void {
    this.reject(line, reason, raw, fields ? { code: 'RECORD_INVALID', data: raggedData(this.columns, fields) } : undefined);
  }
}

function asciiSpanText(text: string, spans: Int32Array, f: number): string {
  const value = text.slice(spans[3 * f], spans[3 * f + 1]);
  return spans[3 * f + 2] === ESCAPED ? value.replaceAll('""', '"') : value;
}

/**
 * Refuse a header that names a column twice (the records would lose a value).
 * @throws KbatchError RECORD_INVALID naming the column, the file and the line
 */
export function checkHeader(fields: readonly string[], file: string, line: number): void {
  const seen = new Set<string>();
  for (const name of fields) {
    if (seen.has(name)) {
      throw new KbatchError('RECORD_INVALID', `${file}:${line}: the header names column "${name}" twice`, { file, line, field: name });
    }
    seen.add(name);
  }
}
