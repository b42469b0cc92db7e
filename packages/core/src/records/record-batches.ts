import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { CsvScanner, type CsvSink } from '../internal/csv-scanner.js';
import { detectFormat } from './detect-format.js';
import { ReadRecordsOptionsSchema, type ReadRecordsOptions, type ResolvedReadRecordsOptions } from './read-options.js';
import { raggedData, rejectionError, type RejectedRecord } from './rejected-record.js';
import { invalidUtf8Reason, Utf8Check } from '../internal/utf8.js';
import { jsonArrayBatches } from './json-array-batches.js';
import type { InputFormat, SourceRecord } from './types.js';

const HIGH_WATER_MARK = 1 << 16;

/**
 * Read records in batches (one batch per input chunk, a few thousand records at most).
 * This is the engine under `recordStream`; batch callers skip the per-record stream overhead.
 * Each call opens the input afresh, so a path can be read again (join re-reads its input).
 * @param options - see `ReadRecordsOptionsSchema`
 */
export async function* recordBatches(options: ReadRecordsOptions): AsyncGenerator<SourceRecord[]> {
  const opts = parseOptions(ReadRecordsOptionsSchema, options, 'recordBatches');
  const { source, file, format } = await openInput(opts);
  if (format === 'json') {
    yield* jsonArrayBatches(source, file, opts);
    return;
  }
  const reader = createReader(file, opts, format);
  const decoder = new StringDecoder(opts.encoding);
  // Invalid UTF-8 decodes to U+FFFD: once a chunk held some, records are checked for it (see Reader.suspect).
  const utf8 = opts.encoding === 'utf8' ? new Utf8Check() : null;
  for await (const chunk of source as AsyncIterable<Buffer | string>) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (utf8 !== null && typeof chunk !== 'string' && utf8.push(chunk)) reader.suspect = true;
    const batch = reader.push(text);
    if (batch.length > 0) yield batch;
  }
  if (utf8?.end()) reader.suspect = true;
  const last = reader.end(decoder.end());
  if (last.length > 0) yield last;
}

export interface OpenedInput {
  source: NodeJS.ReadableStream;
  file: string;
  format: InputFormat;
}

/** Open the input of resolved read options (internal: also used by prepareRequests). */
export async function openInput(opts: Pick<ResolvedReadRecordsOptions, 'input' | 'format' | 'fileName' | 'stdin'>): Promise<OpenedInput> {
  const { input } = opts;
  if (typeof input !== 'string') {
    const file = opts.fileName ?? '-';
    return { source: input, file, format: opts.format ?? detectFormat(file) };
  }
  if (input === '-') {
    return { source: opts.stdin ?? process.stdin, file: '-', format: opts.format ?? detectFormat('-') };
  }
  const format = opts.format ?? detectFormat(input);
  try {
    const info = await stat(input);
    if (!info.isFile() && !info.isFIFO()) throw new Error('not a file');
  } catch (cause) {
    throw new KbatchError('INPUT_NOT_FOUND', `cannot read input "${input}": no such file`, { file: input, cause });
  }
  return { source: createReadStream(input, { highWaterMark: HIGH_WATER_MARK }), file: input, format };
}

/** Incremental record reader over decoded text. */
interface TextRecordReader {
  suspect: boolean;
  push(text: string): SourceRecord[];
  end(text: string): SourceRecord[];
}

function createReader(
  file: string,
  opts: Pick<ResolvedReadRecordsOptions, 'onInvalidRecord' | 'onReject' | 'delimiter' | 'onHeader'>,
  format: 'csv' | 'tsv' | 'jsonl',
): TextRecordReader {
  return format === 'jsonl' ? new JsonlReader(file, opts) : new CsvReader(file, opts, format);
}

// Shared bookkeeping: record numbering and the reject policy.
abstract class Reader {
  protected count = 0;
  protected batch: SourceRecord[] = [];
  /** Set once the input held invalid UTF-8: from then on records holding U+FFFD are rejected (INPUT_ENCODING). */
  suspect = false;
  constructor(
    protected readonly file: string,
    private readonly opts: Pick<ResolvedReadRecordsOptions, 'onInvalidRecord' | 'onReject'>,
  ) {}

  protected reject(line: number, reason: string, raw: string, extra: Pick<RejectedRecord, 'code' | 'data'> = { code: 'RECORD_INVALID' }): void {
    const { code, data } = extra;
    const rejected: RejectedRecord = { file: this.file, line, record: ++this.count, code, reason, raw, ...(data ? { data } : {}) };
    if (this.opts.onInvalidRecord === 'error') throw rejectionError(rejected);
    this.opts.onReject?.(rejected);
  }

  protected take(): SourceRecord[] {
    const batch = this.batch;
    this.batch = [];
    return batch;
  }

  abstract push(text: string): SourceRecord[];
  abstract end(text: string): SourceRecord[];
}

class CsvReader extends Reader implements CsvSink, TextRecordReader {
  private readonly scanner: CsvScanner;
  private columns: string[] = [];
  private safeKeys = true;
  private readonly onHeader: ResolvedReadRecordsOptions['onHeader'];

  constructor(file: string, opts: Pick<ResolvedReadRecordsOptions, 'onInvalidRecord' | 'onReject' | 'delimiter' | 'onHeader'>, format: 'csv' | 'tsv') {
    super(file, opts);
    this.onHeader = opts.onHeader;
    this.scanner = new CsvScanner(opts.delimiter ?? (format === 'tsv' ? '\t' : ','));
  }

  push(text: string): SourceRecord[] {
    this.scanner.push(text, this);
    return this.take();
  }

  end(text: string): SourceRecord[] {
    if (text !== '') this.scanner.push(text, this);
    this.scanner.end(this);
    return this.take();
  }

  header(fields: string[], line: number): void {
    const seen = new Set<string>();
    for (const name of fields) {
      if (seen.has(name)) {
        throw new KbatchError('RECORD_INVALID', `${this.file}:${line}: the header names column "${name}" twice`, {
          file: this.file,
          line,
          field: name,
        });
      }
      seen.add(name);
    }
    this.columns = fields;
    this.safeKeys = !seen.has('__proto__');
    this.onHeader?.(fields, line);
  }

  row(fields: string[], line: number): void {
    const columns = this.columns;
    if (this.suspect) {
      const bad = fields.findIndex((f) => f.includes('\uFFFD'));
      if (bad !== -1) {
        const data = raggedData(columns, fields);
        this.reject(line, invalidUtf8Reason(`in field "${columns[bad]}"`), JSON.stringify(data), { code: 'INPUT_ENCODING' });
        return;
      }
    }
    const data: Record<string, string> = {};
    if (this.safeKeys) {
      for (let i = 0; i < columns.length; i++) data[columns[i]!] = fields[i]!;
    } else {
      for (let i = 0; i < columns.length; i++) {
        Object.defineProperty(data, columns[i]!, { value: fields[i], enumerable: true, writable: true, configurable: true });
      }
    }
    this.batch.push({ index: ++this.count, line, data });
  }

  invalid(reason: string, line: number, raw: string, fields?: string[]): void {
    this.reject(line, reason, raw, fields ? { code: 'RECORD_INVALID', data: raggedData(this.columns, fields) } : undefined);
  }
}

class JsonlReader extends Reader implements TextRecordReader {
  private rest = '';
  private line = 0;

  push(text: string): SourceRecord[] {
    const all = this.rest === '' ? text : this.rest + text;
    let start = 0;
    for (let lf = all.indexOf('\n'); lf !== -1; lf = all.indexOf('\n', start)) {
      this.parseLine(all, start, lf);
      start = lf + 1;
    }
    this.rest = all.slice(start);
    return this.take();
  }

  end(text: string): SourceRecord[] {
    this.push(text);
    if (this.rest !== '') this.parseLine(this.rest, 0, this.rest.length);
    this.rest = '';
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
