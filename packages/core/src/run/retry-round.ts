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
import { chunkSources, latestResults, retrySources } from './attempt-results.js';
import { REALTIME_DIR } from '../realtime/run-realtime-job.js';
import type { RunState } from './run-state.js';

/** A retry file of one chunk for one round (not yet added to the job). */
export interface PlannedRetry {
  chunk: string;
  part: null;
  /** Job-relative path of the request lines to re-run. */
  file: string;
  requests: number;
  /** Realtime rounds: where the results go (job-relative; see {@link realtimeRetryResults}). */
  results?: string;
}

/**
 * Find what round `round - 1` (or the chunks' own run) left unsucceeded — error lines, non-2xx results, answers the labels/schema
 * reject, requests with no result — and write their request lines to `run/retry-<round>/<chunk>.jsonl`,
 * one file per original chunk (so the join stays chunk by chunk). Deterministic: rerunning it after a
 * crash writes the same files (and clears any realtime results of that round).
 */
export async function planRetryRound(
  jobDir: string,
  state: RunState,
  manifest: JobManifest,
  plan: JoinPlan,
  round: number,
): Promise<PlannedRetry[]> {
  const previous =
    round === 1
      ? state.chunks.map((c) => ({ chunk: c.part, file: manifest.parts.find((p) => p.index === c.part)!.path, sources: chunkSources(state, manifest, c.part) }))
      : (state.rounds.find((r) => r.round === round - 1)?.parts ?? [])
          .map((p) => ({ chunk: p.chunk, file: p.file, sources: retrySources(manifest, p, state.stragglers) }))
          .filter((a) => a.sources.length > 0);
  const dirRel = join('run', `retry-${round}`);
  await rm(jobPath(jobDir, dirRel), { recursive: true, force: true });
  await rm(jobPath(jobDir, realtimeRetryDir(round)), { recursive: true, force: true });
  await mkdir(jobPath(jobDir, dirRel), { recursive: true });
  const planned: PlannedRetry[] = [];
  for (const attempt of previous) {
    const good = new Set<string>();
    for await (const { line } of latestResults(jobDir, [attempt.sources])) {
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

/** Job-relative directory of a realtime retry round's results and answers log (its own log: the round re-sends, never replays). */
export function realtimeRetryDir(round: number): string {
  return join(REALTIME_DIR, `retry-${round}`);
}

/** Job-relative results file of one chunk's requests in a realtime retry round. */
export function realtimeRetryResults(round: number, chunk: string): string {
  return join(realtimeRetryDir(round), `chunk-${chunk}.results.jsonl`);
}
