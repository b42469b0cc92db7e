import { FAILURE_EXAMPLES, MAX_CAUSES, type FailureGroup } from './report-data.js';

/**
 * The cause of a failed row from the error message the join writes, named as the run names causes where it can:
 * `invalid_answer`, `missing_result`, `http_429 (rate_limit_exceeded)` (the status, and the provider's code when the
 * message ends with one); else the message's first clause with digits as `#` (ids and counts differ between rows).
 * @example causeOfError('HTTP 429: rate limited (rate_limit_exceeded)') // 'http_429 (rate_limit_exceeded)'
 */
export function causeOfError(error: string): string {
  if (error.startsWith('invalid answer:')) return 'invalid_answer';
  if (error.endsWith('(JOIN_MISSING_RESULT)')) return 'missing_result';
  const code = /\(([A-Za-z][A-Za-z0-9_.-]*)\)\s*$/.exec(error)?.[1];
  const http = /^HTTP (\d{3})\b/.exec(error)?.[1];
  if (http !== undefined) return code === undefined ? `http_${http}` : `http_${http} (${code})`;
  const clause = error.split(':')[0]!.trim().replace(/\d+/g, '#');
  return clause.length > 80 ? `${clause.slice(0, 79)}…` : clause;
}

/** Failed rows counted by model and cause, a few examples each; memory bounded by {@link MAX_CAUSES}. */
export interface FailureGroups {
  add(model: string | null, id: string, error: string): void;
  result(): { failures: FailureGroup[]; otherFailures: number };
}

/** Group failed rows by model and cause (most frequent first in the result). */
export function failureGroups(): FailureGroups {
  const causes = new Map<string, FailureGroup>();
  let other = 0;
  return {
    add(model, id, error) {
      const cause = causeOfError(error);
      const key = JSON.stringify([model, cause]);
      let entry = causes.get(key);
      if (entry === undefined) {
        if (causes.size === MAX_CAUSES) {
          other++;
          return;
        }
        causes.set(key, (entry = { model, cause, count: 0, examples: [] }));
      }
      entry.count++;
      if (entry.examples.length < FAILURE_EXAMPLES) entry.examples.push({ id, error: error.length > 500 ? `${error.slice(0, 499)}…` : error });
    },
    result() {
      return { failures: [...causes.values()].sort((x, y) => y.count - x.count), otherFailures: other };
    },
  };
}
