// A run's chunks as the join reads them: each chunk's latest attempts, indexed where they lie on disk.
import type { JoinChunk } from '../join/chunk-joiner.js';
import { liveChunks, type LiveJoin } from '../join/live-chunks.js';
import type { RunState } from '../state/run-state.js';
import { attemptLookup, type TokenTotals } from './attempt-index.js';
import { attemptGroups } from './attempts.js';
import type { JobManifest } from '../state/manifest.js';

/** What reading a run's chunks needs: the job, its run state and manifest, and where the tokens of lines no record takes go. */
export interface AttemptChunksOptions {
  jobDir: string;
  state: RunState;
  manifest: JobManifest | null;
  tokens: TokenTotals;
  /** Awaited before a chunk's results are read (realtime: until they are final), so rows stream as chunks finish. */
  ready?: (index: number) => Promise<void>;
  /** Realtime round 0 still running: rows stream record by record as their results are final (`ready` is not used). */
  live?: LiveJoin;
}

/** Chunk `index` of a run with its latest results (those in `skip` were joined already: left out). */
export function attemptChunk(options: AttemptChunksOptions, index: number, skip?: ReadonlySet<string>): JoinChunk {
  const { jobDir, state, manifest, tokens } = options;
  const chunk = state.chunks[index]!;
  const groups = attemptGroups(state, manifest!, chunk.part);
  const requests = chunk.requests - (skip?.size ?? 0);
  return { requests, lookup: (onIssue, { lean }) => attemptLookup(jobDir, groups, { tokens, onIssue, lean, expected: requests, ...(skip ? { skip } : {}) }) };
}

/**
 * A run's chunks in input order for `orderedJoin`, each with its latest results ("last attempt wins") read in place:
 * nothing is copied, memory is one chunk's custom_ids.
 */
export async function* attemptChunks(options: AttemptChunksOptions): AsyncGenerator<JoinChunk> {
  const { state, ready, live } = options;
  for (let index = 0; index < state.chunks.length; index++) {
    // Live: the chunk's leading records whose results are final, joined as they arrive; the rest from its files.
    const joined = new Set<string>();
    if (live) yield* liveChunks(live, index, joined);
    else await ready?.(index);
    // Also when every row went out live: results matching no record are still reported.
    yield attemptChunk(options, index, joined);
  }
}
