import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { JobPart } from './manifest.js';
import type { JobContext } from './context.js';
import { jobPath } from './create-job.js';
import { readFileLines } from './lines.js';
import { isUnrunLine } from './classify.js';
import type { BatchResultLine } from './types.js';

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
  const { store } = ctx;
  const max = ctx.opts.maxResubmits;
  const message = expiredMessage(generations + 1, max);
  const rel = part.errorPath ?? join('results', `part-${part.index}.error.jsonl`);
  const dest = jobPath(store.jobDir, rel);
  const temp = `${dest}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const out = createWriteStream(temp);
  const write = async (text: string) => {
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  };
  let kept = 0;
  if (part.errorPath) {
    for await (const { text } of readFileLines(dest)) {
      // A server's never-run marker is replaced by ours (unrun holds its custom_id).
      if (isUnrunLine(JSON.parse(text) as BatchResultLine)) continue;
      await write(text);
      kept++;
    }
  }
  for (const id of unrun) await write(JSON.stringify({ custom_id: id, response: null, error: { code: EXPIRED_CODE, message } }));
  out.end();
  await once(out, 'finish');
  await rename(temp, dest);
  part.errorPath = rel;
  part.errorLines = kept + unrun.size;
  ctx.emit({
    type: 'warning',
    part: part.index,
    message: `${unrun.size} request${unrun.size === 1 ? '' : 's'} expired ${timesText(generations + 1)}; not resubmitted (limit --max-resubmits ${max})`,
  });
  return unrun.size;
}
