import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { jobPath } from './create-job.js';
import { readFileLines, writeFileAtomic } from './lines.js';
import { isUnrunLine } from './classify.js';
import type { BatchResultLine } from './job-types.js';

/** The error code of a request whose batches expired `maxResubmits + 1` times (it is not resubmitted again). */
export const EXPIRED_CODE = 'BATCH_EXPIRED';

/** What a request that expired every time says, in its error line and (through the join) its row's `error`. */
export function expiredMessage(times: number, maxResubmits: number): string {
  return `expired ${timesText(times)}; not resubmitted after ${maxResubmits} resubmission${maxResubmits === 1 ? '' : 's'} (limit --max-resubmits ${maxResubmits})`;
}

function timesText(times: number): string {
  return times === 1 ? 'once' : times === 2 ? 'twice' : `${times} times`;
}

/**
 * An expired part whose requests already used every resubmission (`maxResubmits`): warn, and give each of its
 * never-run requests an error line `{custom_id, response: null, error: {code: 'BATCH_EXPIRED', message}}` in the
 * part's error file (the server's own never-run markers are replaced), so its rows say they expired instead of
 * having no result. Rewrites the whole file, so finishing the part again after a crash gives the same file.
 * @param generations - how many resubmissions led to this part (its requests expired `generations + 1` times)
 * @returns how many requests were marked
 */
export async function markExpiredLeftovers(ctx: JobContext, part: JobPart, unrun: Set<string>, generations: number): Promise<number> {
  const max = ctx.opts.maxResubmits;
  await addErrorLines(ctx.store.jobDir, part, unrun, { code: EXPIRED_CODE, message: expiredMessage(generations + 1, max) });
  ctx.emit({
    type: 'warning',
    part: part.index,
    message: `${unrun.size} request${unrun.size === 1 ? '' : 's'} expired ${timesText(generations + 1)}; not resubmitted (limit --max-resubmits ${max})`,
  });
  return unrun.size;
}

/**
 * Give each of `ids` the error line `{custom_id, response: null, error}` in the part's error file, replacing a
 * never-run marker of one of them. Rewrites the whole file, so doing it again after a crash gives the same file.
 */
export async function addErrorLines(jobDir: string, part: JobPart, ids: Set<string>, error: { code: string; message: string }): Promise<void> {
  const rel = part.errorPath ?? join('results', `part-${part.index}.error.jsonl`);
  const dest = jobPath(jobDir, rel);
  async function* lines(): AsyncGenerator<string> {
    if (part.errorPath) {
      for await (const { text } of readFileLines(dest)) {
        const line = JSON.parse(text) as BatchResultLine;
        // A server's never-run marker (or our own line from before a crash) is replaced by the new one.
        if (typeof line.custom_id === 'string' && ids.has(line.custom_id) && (isUnrunLine(line) || line.error?.code === error.code)) continue;
        yield text;
      }
    }
    for (const id of ids) yield JSON.stringify({ custom_id: id, response: null, error });
  }
  // A batch that named no result file left no results directory.
  await mkdir(dirname(dest), { recursive: true });
  part.errorLines = await writeFileAtomic(dest, lines());
  part.errorPath = rel;
}
