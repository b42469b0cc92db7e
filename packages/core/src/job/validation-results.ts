// The results of a batch that failed validation, made from its errors (the server ran none of its requests).
import { jobPath } from './create-job.js';
import { customIdOf, readFileLines } from './lines.js';
import type { JobPart, LineError } from '../state/manifest.js';
import { failedBatchErrors } from './failed-batch.js';
import type { BatchResultLine } from './job-types.js';

/** Code of the requests of a failed batch that had no error of their own and were not resubmitted (the limit, --no-resubmit, a cancel). */
export const BATCH_FAILED_CODE = 'batch_failed';

/** Code of the requests of a batch that failed without any error code: nothing says it will fail again, so retry rounds may try them (the job never resends the batch unchanged). */
export const BATCH_NO_CAUSE_CODE = 'batch_failed_no_cause';

/**
 * One error result line per request of a batch that failed validation, in request order: a request named by a line
 * error gets that error (`model_not_found`, `line_too_long`, … with its line); the others get the batch's own error
 * (see {@link failedBatchErrors}; {@link BATCH_NO_CAUSE_CODE} when it has no code), else — when they were not resubmitted without the bad lines (their resubmit part
 * holds their results) — {@link BATCH_FAILED_CODE} naming the bad lines. Memory: the part's line errors (at most 1,000).
 */
export async function* validationResults(jobDir: string, part: JobPart): AsyncGenerator<{ text: string; line: BatchResultLine }> {
  const errors = part.lineErrors ?? [];
  const { byId, rest } = failedBatchErrors(errors);
  const batch = part.batchId ?? `part ${part.index}`;
  const others = errors.length === 0 ? 'no error was reported' : `${errors.length} line${errors.length === 1 ? '' : 's'} failed (${errors.slice(0, 3).map(describe).join('; ')})`;
  for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
    const id = customIdOf(text);
    if (id === null) continue;
    const own = byId.get(id) ?? rest;
    if (!own && part.resubmittedAs !== undefined) continue;
    const error = own
      ? { code: own.code ?? BATCH_NO_CAUSE_CODE, message: `batch ${batch} failed validation: ${describe(own)}` }
      : { code: BATCH_FAILED_CODE, message: `not run: batch ${batch} failed validation, ${others}; not resubmitted` };
    const line: BatchResultLine = { custom_id: id, response: null, error };
    yield { text: JSON.stringify(line), line };
  }
}

/** `line 3 (custom_id r3): line_too_long: Line 3 has 600 bytes…` */
function describe(e: LineError): string {
  const where = e.line === null ? '' : `line ${e.line}${e.customId ? ` (custom_id ${e.customId})` : ''}: `;
  return `${where}${e.code ?? 'error'}${e.message ? `: ${e.message}` : ''}`;
}
