import type { ResolvedReadRecordsOptions } from './read-options.js';
import { rejectionError, type RejectedRecord } from './rejected-record.js';
import type { SourceRecord } from './source-record.js';
import { Utf8Check } from '../internal/utf8.js';

/** Options a record reader uses. */
export type RecordReaderOptions = Pick<ResolvedReadRecordsOptions, 'onInvalidRecord' | 'onReject' | 'delimiter' | 'onHeader' | 'encoding'>;

/**
 * Incremental reader of one input format: the records completed by each chunk of input, in order.
 * Shared bookkeeping lives here: record numbering, the reject policy and the input's UTF-8 validity.
 */
export abstract class RecordReader {
  protected count = 0;
  protected batch: SourceRecord[] = [];
  /** Set once the input held invalid UTF-8: from then on records holding U+FFFD are rejected (INPUT_ENCODING). */
  protected suspect = false;
  // Invalid UTF-8 decodes to U+FFFD: once a chunk held some, records are checked for it (see `suspect`).
  private readonly utf8: Utf8Check | null;

  constructor(
    protected readonly file: string,
    private readonly opts: RecordReaderOptions,
  ) {
    this.utf8 = opts.encoding === 'utf8' ? new Utf8Check() : null;
  }

  /** The records completed by `chunk` (bytes, or text taken as decoded). */
  abstract push(chunk: Buffer | string): SourceRecord[];
  /** The records left at end of input. */
  abstract end(): SourceRecord[];

  /** Track UTF-8 validity; call with each chunk before its records are read. */
  protected check(chunk: Buffer | string): void {
    if (this.utf8 !== null && typeof chunk !== 'string' && this.utf8.push(chunk)) this.suspect = true;
  }

  /** At end of input, before the last records are read. */
  protected checkEnd(): void {
    if (this.utf8?.end()) this.suspect = true;
  }

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
}
