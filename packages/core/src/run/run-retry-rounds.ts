// Follow-up rounds for what failed, as batches or realtime.
import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../job/lines.js';
import { addChunks, jobPath } from '../job/create-job.js';
import type { JobManifest } from '../state/manifest.js';
import type { JobStore } from '../state/job-store.js';
import { crashPoint } from '../job/crash-point.js';
import { DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import { REALTIME_ANSWERS_FILE } from '../realtime/run-realtime-job.js';
import type { JobEvent } from '../job/job-types.js';
import { driveJob } from './drive-job.js';
import { roundProgress } from './round-progress.js';
import type { RunPhaseContext } from './phase-context.js';
import { finishStragglers } from './straggler-round.js';
import { finalNotRetried, planRetryRound, realtimeRetryDir, realtimeRetryResults } from './plan-retry-round.js';
import type { RunState } from '../state/run-state.js';

/** Add, run and evaluate retry rounds until everything succeeded or `retries` rounds ran. Crash-safe at every step. */
export async function retryRounds(ctx: RunPhaseContext): Promise<void> {
  const { jobDir, store, state, jobOptions, emit, realtime, deadline } = ctx;
  while (!state.retriesDone) {
    const manifest = await store.readManifest();
    const last = state.rounds.at(-1);
    if (last && !last.finished) {
      const requests = last.parts.reduce((n, p) => n + p.requests, 0);
      if (last.via === 'realtime') {
        emit({ type: 'phase', phase: 'retry', message: `retry round ${last.round}: ${requests} requests realtime`, round: last.round });
        await realtime.run(
          last.parts.map((p) => jobPath(jobDir, p.file)),
          last.parts.map((p) => jobPath(jobDir, p.results!)),
          jobPath(jobDir, join(realtimeRetryDir(last.round), REALTIME_ANSWERS_FILE)),
          requests,
        );
      } else {
        if (last.parts.some((p) => p.part === null)) await attachParts(store, state, manifest, last.parts);
        emit({ type: 'phase', phase: 'retry', message: `retry round ${last.round}: ${requests} requests`, round: last.round });
        // The job's counts span every part and round: the round reports its own parts against its own requests.
        const first = last.parts.map((p) => p.part!).sort()[0]!;
        const onProgress = (e: JobEvent) => emit(e.type === 'progress' ? roundProgress(e, last.round, requests, first) : e);
        await driveJob(jobDir, { ...jobOptions, onProgress }, deadline);
        // A batch round's straggler batches are finished within the round (their results belong to it).
        await finishStragglers(ctx);
      }
      last.finished = true;
      await store.writeRunState(state);
      continue;
    }
    const round = (last?.round ?? 0) + 1;
    const { planned, notRetried } = round > state.settings.retries || manifest.cancelledAt ? { planned: [] } : await planRetryRound(ctx, manifest, round);
    if (planned.length === 0) {
      // Counted once, from the final results: what failed for good and why (whatever round it was first seen in).
      const causes = notRetried ?? (await finalNotRetried(ctx, manifest));
      state.notRetried = Object.keys(causes).length > 0 ? [{ round: round - 1, causes }] : [];
      state.retriesDone = true;
      await store.writeRunState(state);
      break;
    }
    const requests = planned.reduce((n, p) => n + p.requests, 0);
    // Invalid answers are successes to the realtime engine, so a realtime round always re-sends (its own answers log).
    const via = state.mode === 'realtime' || (state.settings.finishRealtime && requests < (state.settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD)) ? 'realtime' : 'batch';
    if (via === 'realtime') for (const p of planned) p.results = realtimeRetryResults(round, p.file);
    state.rounds.push({ round, via, parts: planned, finished: false });
    await store.writeRunState(state);
    emit({ type: 'retry-round', round, requests, parts: via === 'realtime' ? planned.length : new Set(planned.map((p) => p.batch)).size, via });
  }
}

/**
 * Give a planned round its job parts, one per batch (the batch's files joined into `run/retry-<round>/batch-<n>.jsonl`):
 * ones a crash left unclaimed in the manifest, else new ones from addChunks.
 */
export async function attachParts(store: JobStore, state: RunState, manifest: JobManifest, parts: RunState['rounds'][number]['parts']): Promise<void> {
  const jobDir = store.dir;
  const claimed = new Set(state.rounds.filter((r) => r.via !== 'realtime').flatMap((r) => r.parts.map((p) => p.part)).filter((p): p is string => p !== null));
  const unclaimed = manifest.parts.filter((p) => p.kind === 'retry' && !claimed.has(p.index)).map((p) => p.index);
  // Entries of older runs have no batch: each is a batch of its own.
  const batches = new Map<string, Array<RunState['rounds'][number]['parts'][number]>>();
  parts.forEach((p, i) => {
    if (p.part !== null) return;
    const key = p.batch === undefined ? `entry-${i}` : `batch-${p.batch}`;
    batches.set(key, [...(batches.get(key) ?? []), p]);
  });
  const groups = [...batches.values()];
  let indexes = unclaimed;
  if (unclaimed.length !== groups.length) {
    const files: string[] = [];
    for (const group of groups) {
      const batch = group[0]!.batch;
      files.push(batch === undefined ? join(jobDir, group[0]!.file) : await joinFiles(jobDir, group.map((p) => p.file), batch));
    }
    indexes = await addChunks(jobDir, files, { store });
  }
  crashPoint('run-after-add-retries');
  groups.forEach((group, i) => group.forEach((p) => (p.part = indexes[i]!)));
  await store.writeRunState(state);
}

/** Concatenate a batch's job-relative request files into `<their dir>/batch-<n>.jsonl` (temp + rename), returning its absolute path. */
async function joinFiles(jobDir: string, files: string[], batch: number): Promise<string> {
  const dest = jobPath(jobDir, join(dirname(files[0]!), `batch-${batch}.jsonl`));
  // A new file, never the old one rewritten in place: a crash may have left it hard-linked into chunks/.
  async function* bytes(): AsyncGenerator<Buffer> {
    for (const file of files) yield* createReadStream(jobPath(jobDir, file)) as AsyncIterable<Buffer>;
  }
  await writeFileAtomic(dest, bytes());
  return dest;
}
