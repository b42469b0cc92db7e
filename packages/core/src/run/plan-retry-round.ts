import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { jobPath } from '../job/create-job.js';
import { customIdOf, customIdOfBytes, readFileLines } from '../job/lines.js';
import type { JobManifest } from '../state/manifest.js';
import type { JoinPlan } from '../join/join-plan.js';
import { attemptGroups, chunkSources, partFamily, retrySources } from '../job/attempts.js';
import { settledPart } from '../job/part-verdict.js';
import { latestCauses } from './failure-cause.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS } from '../chunk/chunk-options.js';
import { planChunk, type ChunkLimits } from '../chunk/plan-chunk.js';
import { estimateLineTokens } from '../chunk/line-tokens.js';
import { REALTIME_DIR } from '../realtime/run-realtime-job.js';
import type { RunState } from '../state/run-state.js';

/** A retry file of one chunk's requests for one round (not yet added to the job). */
export interface PlannedRetry {
  chunk: string;
  part: null;
  /** Job-relative path of the request lines to re-run. */
  file: string;
  requests: number;
  /** The round's batch (0-based) these requests go into, with other chunks' (see {@link attachParts}). */
  batch: number;
  /** Realtime rounds: where the results go (job-relative; see {@link realtimeRetryResults}). */
  results?: string;
}

/** A planned round: its retry files, and (round 1) the failures a retry cannot change, per cause (see {@link finalNotRetried}). */
export interface PlannedRound {
  planned: PlannedRetry[];
  notRetried?: Record<string, number>;
}

/** What planning a round reads: the job directory, the run state and the join plan (labels/schema judge answers). */
export interface RoundInputs {
  jobDir: string;
  state: RunState;
  plan: JoinPlan;
}

/**
 * Find what round `round - 1` (or the chunks' own run) left unsucceeded and can succeed on a retry (see
 * {@link resultCause}: 5xx, 429, expiry, answers the labels/schema reject, requests with no result) and write their
 * request lines to `run/retry-<round>/`, one file per chunk and batch (so the join stays chunk by chunk), packed into
 * as few batches as `maxRequests`/`maxBytes`/`maxBatchTokens` allow. Failures a retry cannot change (400, 404, unknown model, line too
 * long, …) are never sent again (see {@link finalNotRetried}). Deterministic: rerunning it after a crash writes the
 * same files (and clears any realtime results of that round). Each result is parsed and judged once.
 */
export async function planRetryRound(run: RoundInputs, manifest: JobManifest, round: number): Promise<PlannedRound> {
  const { jobDir, state, plan } = run;
  const notRetried: Record<string, number> = {};
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
  const { maxRequests = DEFAULT_MAX_REQUESTS, maxBytes = DEFAULT_MAX_BYTES, maxBatchTokens } = state.settings;
  const packer = batchPacker({ maxRequests, maxBytes, maxBatchTokens });
  const planned: PlannedRetry[] = [];
  for (const attempt of previous) {
    // A chunk whose results were judged on download, every request settled: nothing to read or resend.
    const counted = round === 1 ? await settledChunk(jobDir, manifest, attempt.chunk) : null;
    if (counted) {
      for (const [cause, n] of Object.entries(counted)) notRetried[cause] = (notRetried[cause] ?? 0) + n;
      continue;
    }
    // Succeeded, or failed for a cause a retry cannot change: not sent again.
    const settled = new Set<string>();
    await latestCauses(jobDir, [attempt.sources], plan, (customId, cause) => {
      if (cause?.retry !== true) settled.add(customId);
      if (cause !== null && !cause.retry) notRetried[cause.cause] = (notRetried[cause.cause] ?? 0) + 1;
    });
    let segment: { out: ReturnType<typeof createWriteStream>; entry: PlannedRetry } | undefined;
    const close = async (): Promise<void> => {
      if (!segment) return;
      segment.out.end();
      await finished(segment.out);
      planned.push(segment.entry);
      segment = undefined;
    };
    // Settled requests are passed over from their bytes (most are: their lines are not decoded).
    const isSettled = (buf: Buffer, start: number, end: number): boolean => {
      const id = customIdOfBytes(buf, start, end);
      return id !== undefined && settled.has(id);
    };
    for await (const { text } of readFileLines(jobPath(jobDir, attempt.file), isSettled)) {
      const id = customIdOf(text);
      if (id !== null && settled.has(id)) continue;
      const batch = packer.add(text);
      if (segment && segment.entry.batch !== batch) await close();
      if (!segment) {
        const file = join(dirRel, `chunk-${attempt.chunk}.${planned.length}.jsonl`);
        segment = { out: createWriteStream(jobPath(jobDir, file)), entry: { chunk: attempt.chunk, part: null, file, requests: 0, batch } };
      }
      segment.entry.requests++;
      if (!segment.out.write(`${text}\n`)) await once(segment.out, 'drain');
    }
    await close();
  }
  // Round 1 judged every request's only attempt: when it resends nothing, those are the final results.
  return { planned, ...(round === 1 ? { notRetried } : {}) };
}

/**
 * The failed requests a retry cannot change (see {@link resultCause}), counted per cause from every request's final
 * result: what the summary reports as not retried.
 */
export async function finalNotRetried(run: RoundInputs, manifest: JobManifest): Promise<Record<string, number>> {
  const { jobDir, state, plan } = run;
  const counts: Record<string, number> = {};
  for (const chunk of state.chunks) {
    const groups = attemptGroups(state, manifest, chunk.part);
    const counted = groups.length === 1 ? await settledChunk(jobDir, manifest, chunk.part) : null;
    if (counted) {
      for (const [cause, n] of Object.entries(counted)) counts[cause] = (counts[cause] ?? 0) + n;
      continue;
    }
    await latestCauses(jobDir, groups, plan, (_customId, cause) => {
      if (cause !== null && !cause.retry) counts[cause.cause] = (counts[cause.cause] ?? 0) + 1;
    });
  }
  return counts;
}

/**
 * The final failures per cause of a chunk run once as one batch part (no resubmit, no straggler leftovers, no retry
 * round) whose verdict shows every request settled (see settledPart); null otherwise.
 */
async function settledChunk(jobDir: string, manifest: JobManifest, chunkPart: string): Promise<Record<string, number> | null> {
  const family = partFamily(manifest, chunkPart);
  const part = family[0];
  if (family.length !== 1 || !part || part.straggler || !part.done) return null;
  return settledPart(jobDir, part);
}

/** Assigns request lines to batches in order, starting a new one when a line would pass a limit (the chunker's rule). */
function batchPacker(limits: ChunkLimits) {
  let batches = 0;
  const counter = { requests: 0, bytes: 0, tokens: 0 };
  return {
    /** The batch (0-based) `text` goes into. */
    add(text: string): number {
      const size = Buffer.byteLength(text) + 1;
      const tokens = limits.maxBatchTokens === undefined ? 0 : estimateLineTokens(Buffer.from(text));
      // A line no batch can hold was refused when it was chunked; were it here, it would go alone (every batch holds a line).
      if (batches === 0 || planChunk(counter, size, limits, tokens) !== 'append') {
        batches++;
        Object.assign(counter, { requests: 0, bytes: 0, tokens: 0 });
      }
      counter.requests++;
      counter.bytes += size;
      counter.tokens += tokens;
      return batches - 1;
    },
  };
}

/** Job-relative directory of a realtime retry round's results and answers log (its own log: the round re-sends, never replays). */
export function realtimeRetryDir(round: number): string {
  return join(REALTIME_DIR, `retry-${round}`);
}

/** Job-relative results file of one retry file's requests in a realtime retry round (named after the file). */
export function realtimeRetryResults(round: number, file: string): string {
  return join(realtimeRetryDir(round), `${basename(file, '.jsonl')}.results.jsonl`);
}
