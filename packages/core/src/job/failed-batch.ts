// What a batch that failed validation says of each of its requests (the server ran none of them).
import type { JobPart, LineError } from './manifest.js';
import { jobPath } from './create-job.js';
import { customIdOf, readFileLines } from './lines.js';

/** How many line errors of a failed batch are kept (servers list at most this many). */
export const MAX_LISTED_ERRORS = 1000;

/** A failed batch's errors by request. */
export interface FailedBatchErrors {
  /** The first error naming each request. */
  byId: Map<string, LineError>;
  /**
   * What a request no error names gets: an error of the whole batch (no line); else null — it failed only because
   * other lines were bad, so it is resubmitted without them.
   */
  rest: LineError | null;
}

/** Sort a failed batch's line errors into {@link FailedBatchErrors}. */
export function failedBatchErrors(errors: readonly LineError[]): FailedBatchErrors {
  const byId = new Map<string, LineError>();
  for (const e of errors) if (e.customId !== null && !byId.has(e.customId)) byId.set(e.customId, e);
  return { byId, rest: errors.find((e) => e.line === null) ?? null };
}

/** The custom_ids of a failed batch's requests that no error names (they never ran and can run without the bad lines). */
export async function innocentRequests(jobDir: string, part: JobPart): Promise<Set<string>> {
  const { byId, rest } = failedBatchErrors(part.lineErrors ?? []);
  const ids = new Set<string>();
  if (rest) return ids;
  for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
    const id = customIdOf(text);
    if (id !== null && !byId.has(id)) ids.add(id);
  }
  return ids;
}
