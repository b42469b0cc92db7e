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
