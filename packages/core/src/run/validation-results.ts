// The results of a batch that failed validation, made from its errors (the server ran none of its requests).
import { jobPath } from '../job/create-job.js';
import { customIdOf, readFileLines } from '../job/lines.js';
import type { JobPart, LineError } from '../job/manifest.js';
import type { BatchResultLine } from '../job/types.js';

/** Code of the requests of a failed batch that had no error of their own: they can run once the bad lines are gone. */
export const BATCH_FAILED_CODE = 'batch_failed';

/**
 * One error result line per request of a batch that failed validation, in request order: a request named by a line
 * error gets that error (`model_not_found`, `line_too_long`, … with its line); when an error names no line, every
 * request gets it; else the others get {@link BATCH_FAILED_CODE} naming the bad lines (a retry round resends them
 * without those). Memory: the part's line errors (at most 1,000).
 */
export async function* validationResults(jobDir: string, part: JobPart): AsyncGenerator<{ text: string; line: BatchResultLine }> {
  const errors = part.lineErrors ?? [];
  const byId = new Map<string, LineError>();
  for (const e of errors) if (e.customId !== null && !byId.has(e.customId)) byId.set(e.customId, e);
  const whole = errors.find((e) => e.line === null);
  const batch = part.batchId ?? `part ${part.index}`;
  const others = errors.length === 0 ? 'no error was reported' : `${errors.length} line${errors.length === 1 ? '' : 's'} failed (${errors.slice(0, 3).map(describe).join('; ')})`;
  for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
    const id = customIdOf(text);
    if (id === null) continue;
    const own = byId.get(id) ?? whole;
    const error = own
      ? { code: own.code ?? BATCH_FAILED_CODE, message: `batch ${batch} failed validation: ${describe(own)}` }
      : { code: BATCH_FAILED_CODE, message: `not run: batch ${batch} failed validation, ${others}` };
    const line: BatchResultLine = { custom_id: id, response: null, error };
    yield { text: JSON.stringify(line), line };
  }
}

/** `line 3 (custom_id r3): line_too_long: Line 3 has 600 bytes…` */
function describe(e: LineError): string {
  const where = e.line === null ? '' : `line ${e.line}${e.customId ? ` (custom_id ${e.customId})` : ''}: `;
  return `${where}${e.code ?? 'error'}${e.message ? `: ${e.message}` : ''}`;
}
