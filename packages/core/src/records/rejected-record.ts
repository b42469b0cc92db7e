import { KbatchError, type KbatchErrorCode } from '../errors.js';

/** A record that could not be used, as written to a rejects file (one JSON object per line). */
export interface RejectedRecord {
  /** Input file (or `-`). */
  file: string;
  /** 1-based physical line where the record starts (JSON arrays: the element number). */
  line: number;
  /** 1-based record number; rejected records are counted too, so numbering is stable. */
  record: number;
  /** Why it was rejected, e.g. the error code. */
  code: KbatchErrorCode;
  reason: string;
  /** The record's source text when known (malformed rows), else its parsed data as JSON. */
  raw: string;
  /** A CSV row with the wrong number of fields: the fields it had, by header position (see {@link raggedData}). */
  data?: Record<string, string | null>;
}

/**
 * The fields of a CSV row that does not match its header, by position: missing columns are null, fields beyond
 * the header are named `_extra_1`, `_extra_2`, … (chosen so no value of the row is lost).
 */
export function raggedData(columns: readonly string[], fields: readonly string[]): Record<string, string | null> {
  const data: Record<string, string | null> = {};
  const set = (key: string, value: string | null) => Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
  for (let i = 0; i < columns.length; i++) set(columns[i]!, i < fields.length ? fields[i]! : null);
  for (let i = columns.length; i < fields.length; i++) set(`_extra_${i - columns.length + 1}`, fields[i]!);
  return data;
}

/** Per-record failure policy shared by readers and builders: stop on the first bad record, or skip it. */
export type OnInvalidRecord = 'error' | 'skip';

/** Called for each skipped record (with `onInvalidRecord: 'skip'`). */
export type RejectHandler = (rejected: RejectedRecord) => void;

/** The error thrown for a rejected record when the policy is `error`. */
export function rejectionError(rejected: RejectedRecord): KbatchError {
  return new KbatchError(rejected.code, `${rejected.file}:${rejected.line}: ${rejected.reason}`, {
    file: rejected.file,
    line: rejected.line,
    record: rejected.record,
  });
}
