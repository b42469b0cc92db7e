// The leftovers of straggler batches (cancelled by the job's straggler rule), finished realtime.
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { jobPath } from '../job/create-job.js';
import { crashPoint } from '../job/crash-point.js';
import { customIdOf, readFileLines } from '../job/lines.js';
import { isUnrunLine } from '../job/classify.js';
import type { JobPart } from '../state/manifest.js';
import { parseResultText, resultFilesOf } from '../job/retry-owners.js';
import { REALTIME_DIR } from '../realtime/run-realtime-job.js';
import type { RunPhaseContext } from './phase-context.js';

/** Job-relative directory of the straggler leftovers' request files. */
const STRAGGLER_DIR = join('run', 'stragglers');

/**
 * Finish the requests that straggler batches left without a result: for each finished part marked `straggler`
 * (the job cancelled it), write its requests with no result line (never-run markers are not results) to
 * `run/stragglers/part-N.jsonl`, record them in run.json, then send them realtime into
 * `realtime/stragglers/part-N.results.jsonl` with their own answers log (a crash mid-way resends only the
 * unanswered). Requests the batch answered — before or while it was cancelled — are never sent again. Not a retry
 * round: runs whatever `retries` is. Skipped for a job the user cancelled (nothing new is sent for it).
 */
export async function finishStragglers(ctx: Pick<RunPhaseContext, 'jobDir' | 'store' | 'state' | 'emit' | 'realtime'>): Promise<void> {
  const { jobDir, store, state, emit, realtime } = ctx;
  const manifest = await store.readManifest();
  for (const part of manifest.parts) {
    if (!part.straggler || !part.done || manifest.cancelledAt || state.stragglers.some((s) => s.part === part.index)) continue;
    const file = join(STRAGGLER_DIR, `part-${part.index}.jsonl`);
    const completed = part.requestCounts?.completed ?? 0;
    // Without all the results the server reports, "no result" does not mean "not run": sending them would pay twice.
    const complete = (part.outputLines ?? 0) >= completed;
    if (!complete) {
      emit({
        type: 'warning',
        message: `batch ${part.batchId}: ${completed} requests completed but ${part.outputLines ?? 0} output lines; its stragglers are left to the retry rounds`,
      });
    }
    const requests = complete ? await writeLeftovers(jobDir, part, file) : 0;
    state.stragglers.push({ part: part.index, file, requests, results: join(REALTIME_DIR, 'stragglers', `part-${part.index}.results.jsonl`), finished: requests === 0 });
    await store.writeRunState(state);
    crashPoint('run-after-straggler-plan');
  }
  for (const leftovers of state.stragglers) {
    if (leftovers.finished) continue;
    const part = manifest.parts.find((p) => p.index === leftovers.part);
    emit({
      type: 'phase',
      phase: 'stragglers',
      message: `finishing ${leftovers.requests} straggler${leftovers.requests === 1 ? '' : 's'} of batch ${part?.batchId ?? `part ${leftovers.part}`} realtime`,
    });
    await realtime.run(
      [jobPath(jobDir, leftovers.file)],
      [jobPath(jobDir, leftovers.results)],
      jobPath(jobDir, join(REALTIME_DIR, 'stragglers', `part-${leftovers.part}.answers.jsonl`)),
      leftovers.requests,
    );
    leftovers.finished = true;
    await store.writeRunState(state);
  }
}

// The part's request lines whose custom_id has no result line, in order (temp + rename: a crash leaves none or all).
// Memory: the custom_ids of one part's results.
async function writeLeftovers(jobDir: string, part: JobPart, rel: string): Promise<number> {
  const answered = new Set<string>();
  for (const { rel: results } of resultFilesOf(part)) {
    for await (const { line, text } of readFileLines(jobPath(jobDir, results))) {
      const result = parseResultText(text, results, line);
      if (typeof result.custom_id === 'string' && !isUnrunLine(result)) answered.add(result.custom_id);
    }
  }
  const dest = jobPath(jobDir, rel);
  await mkdir(jobPath(jobDir, STRAGGLER_DIR), { recursive: true });
  const out = createWriteStream(`${dest}.tmp`);
  let requests = 0;
  for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
    const id = customIdOf(text);
    if (id !== null && answered.has(id)) continue;
    requests++;
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  await rename(`${dest}.tmp`, dest);
  return requests;
}
