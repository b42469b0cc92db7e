import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { jobPath } from '../job/create-job.js';
import { customIdOf, readFileLines } from '../job/lines.js';
import type { JobManifest } from '../job/manifest.js';
import { parseResultLine } from '../join/result-line.js';
import type { JoinPlan } from '../join/join-plan.js';
import { latestResults, partFamily } from './attempt-results.js';
import type { RunState } from './run-state.js';

/** A retry file of one chunk for one round (not yet added to the job). */
export interface PlannedRetry {
  chunk: string;
  part: null;
  /** Job-relative path of the request lines to re-run. */
  file: string;
  requests: number;
}

/**
 * Find what round `round - 1` left unsucceeded — error lines, non-2xx results, answers the labels/schema
 * reject, requests with no result — and write their request lines to `run/retry-<round>/<chunk>.jsonl`,
 * one file per original chunk (so the join stays chunk by chunk). Deterministic: rerunning it after a
 * crash writes the same files.
 */
export async function planRetryRound(jobDir: string, state: RunState, manifest: JobManifest, plan: JoinPlan, round: number): Promise<PlannedRetry[]> {
  const previous =
    round === 1
      ? state.chunks.map((c) => ({ chunk: c.part, part: c.part, file: manifest.parts.find((p) => p.index === c.part)!.path }))
      : (state.rounds.find((r) => r.round === round - 1)?.parts ?? []).filter((p) => p.part !== null).map((p) => ({ chunk: p.chunk, part: p.part!, file: p.file }));
  const dirRel = join('run', `retry-${round}`);
  await rm(jobPath(jobDir, dirRel), { recursive: true, force: true });
  await mkdir(jobPath(jobDir, dirRel), { recursive: true });
  const planned: PlannedRetry[] = [];
  for (const attempt of previous) {
    const good = new Set<string>();
    for await (const { line } of latestResults(jobDir, [partFamily(manifest, attempt.part)])) {
      const result = parseResultLine(line);
      if (result.ok && plan.answers.parse(result.response ?? '', result.logprobs).error === null) good.add(result.customId);
    }
    const rel = join(dirRel, `chunk-${attempt.chunk}.jsonl`);
    let out: ReturnType<typeof createWriteStream> | undefined;
    let requests = 0;
    for await (const { text } of readFileLines(jobPath(jobDir, attempt.file))) {
      const id = customIdOf(text);
      if (id !== null && good.has(id)) continue;
      out ??= createWriteStream(jobPath(jobDir, rel));
      requests++;
      if (!out.write(`${text}\n`)) await once(out, 'drain');
    }
    if (out) {
      out.end();
      await finished(out);
      planned.push({ chunk: attempt.chunk, part: null, file: rel, requests });
    }
  }
  return planned;
}
