/** Counts of a join, for the summary line and the exit code. */
export interface JoinReport {
  /** Input records joined (= output records). */
  records: number;
  succeeded: number;
  /** Request failed (error line or non-2xx status). */
  failed: number;
  /** Answer rejected by `labels`/`schema` (ANSWER_INVALID). */
  invalid: number;
  /** Records with no result (JOIN_MISSING_RESULT). */
  missing: number;
  /** Results whose custom_id matched no record (JOIN_UNKNOWN_RESULT). */
  unknown: number;
  /** Extra results for an already-seen custom_id (JOIN_DUPLICATE_RESULT). */
  duplicates: number;
  promptTokens: number;
  completionTokens: number;
}

/** A report with every count at zero. */
export function emptyJoinReport(): JoinReport {
  return { records: 0, succeeded: 0, failed: 0, invalid: 0, missing: 0, unknown: 0, duplicates: 0, promptTokens: 0, completionTokens: 0 };
}

/**
 * One-line human summary of a join (stderr material).
 * @example formatJoinReport(r) // 'joined 1000 records: 990 succeeded, 6 failed, 2 invalid answers, 2 missing results; 0 unknown, 0 duplicate results; tokens 52000 prompt + 3000 completion'
 */
export function formatJoinReport(r: JoinReport): string {
  return (
    `joined ${r.records} records: ${r.succeeded} succeeded, ${r.failed} failed, ${r.invalid} invalid answers, ${r.missing} missing results; ` +
    `${r.unknown} unknown, ${r.duplicates} duplicate results; tokens ${r.promptTokens} prompt + ${r.completionTokens} completion`
  );
}
