import { FAILURE_EXAMPLES, MAX_CAUSES, type FailureCause } from './report-data.js';

/**
 * The cause of a failed row, from the error message the join writes: `invalid answer`, `no result (CODE)`,
 * `HTTP 429 (rate_limit_exceeded)` (status and the provider's code), else the message's first clause with digits
 * as `#` (ids and counts differ between rows of one cause).
 * @example failureCause('HTTP 429: rate limited (rate_limit_exceeded)') // 'HTTP 429 (rate_limit_exceeded)'
 */
export function failureCause(error: string): string {
  if (error.startsWith('invalid answer:')) return 'invalid answer';
  const code = /\(([A-Za-z][A-Za-z0-9_.-]*)\)\s*$/.exec(error)?.[1];
  const http = /^HTTP (\d{3})\b/.exec(error)?.[1];
  if (http !== undefined) return code === undefined ? `HTTP ${http}` : `HTTP ${http} (${code})`;
  if (code !== undefined && /^[A-Z][A-Z0-9_]+$/.test(code)) return `${error.slice(0, error.lastIndexOf('(')).split(':')[0]!.trim()} (${code})`;
  const clause = error.split(':')[0]!.trim().replace(/\d+/g, '#');
  return clause.length > 80 ? `${clause.slice(0, 79)}…` : clause;
}

/** Failed rows counted by model and cause, a few examples each; memory bounded by {@link MAX_CAUSES}. */
export interface FailureTally {
  add(model: string | null, id: string, error: string): void;
  result(): { failures: FailureCause[]; otherFailures: number };
}

/** Count failures by cause (most frequent first in the result). */
export function failureTally(): FailureTally {
  const causes = new Map<string, FailureCause>();
  let other = 0;
  return {
    add(model, id, error) {
      const cause = failureCause(error);
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
