// What a batch that failed validation says of each of its requests (the server ran none of them).
import type { JobPart, LineError } from '../state/manifest.js';
import { jobPath } from './create-job.js';
import { customIdOf, readFileLines } from './lines.js';

/** How many line errors of a failed batch are kept (servers list at most this many). */
export const MAX_LISTED_ERRORS = 1000;

/** A failed batch's errors by request. */
export interface FailedBatchErrors {
  /** The first error naming each request. */
  byId: Map<string, LineError>;
  /**
   * What a request no error names gets: an error of the whole batch (no line), or the one code of a capped list; else
   * the batch's failure when its errors name no request (none listed); else null — it failed only because other lines
   * were bad (or was not listed), so it is resubmitted without them.
   */
  rest: LineError | null;
}

/**
 * Sort a failed batch's line errors into {@link FailedBatchErrors}. When the list is capped ({@link MAX_LISTED_ERRORS})
 * and every listed error has one code on every line from the first (an unknown model, every line invalid), the unlisted
 * requests get that code too: resending them would fail the same way. Errors with gaps between them (some long lines)
 * say nothing of the unlisted requests: those are resubmitted alone, and any bad ones among them are listed next time.
 */
export function failedBatchErrors(errors: readonly LineError[]): FailedBatchErrors {
  const byId = new Map<string, LineError>();
  for (const e of errors) if (e.customId !== null && !byId.has(e.customId)) byId.set(e.customId, e);
  const whole = errors.find((e) => e.line === null);
  if (whole) return { byId, rest: whole };
  // Errors that name no request (none listed, or lines without a custom_id): the whole batch failed, and resending it unchanged would too.
  if (byId.size === 0) return { byId, rest: { line: null, customId: null, code: errors[0]?.code ?? null, message: unnamed(errors) } };
  const code = errors[0]?.code ?? null;
  if (errors.length < MAX_LISTED_ERRORS || code === null || errors.some((e) => e.code !== code) || !fromFirstLine(errors)) return { byId, rest: null };
  const message = `not listed (the server lists at most ${MAX_LISTED_ERRORS} errors, all ${code}; e.g. ${errors[0]!.message ?? 'no message'})`;
  return { byId, rest: { line: null, customId: null, code, message } };
}

// What a failed batch whose errors name none of its requests says of them.
function unnamed(errors: readonly LineError[]): string {
  if (errors.length === 0) return 'the batch failed and the server reported no error; not resubmitted unchanged';
  const first = errors[0]!;
  return `the batch failed with ${errors.length} error${errors.length === 1 ? '' : 's'} naming no request (e.g. ${first.line === null ? '' : `line ${first.line}: `}${first.message ?? first.code ?? 'no message'}); not resubmitted unchanged`;
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

// True when the listed errors name consecutive lines from the file's first (every request up to the cap failed).
function fromFirstLine(errors: readonly LineError[]): boolean {
  const lines = new Set(errors.map((e) => e.line!));
  const first = Math.min(...lines);
  return first <= 1 && Math.max(...lines) - first + 1 === lines.size;
}
