// Follow-up rounds for what failed, as batches or realtime.
import { join } from 'node:path';
import { addChunks, jobPath } from '../job/create-job.js';
import { loadManifest, type JobManifest } from '../job/manifest.js';
import { crashPoint } from '../job/crash-point.js';
import { DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import { REALTIME_ANSWERS_FILE } from '../realtime/run-realtime-job.js';
import type { JobEvent } from '../job/types.js';
import { driveJob } from './drive-job.js';
import { roundProgress } from './round-progress.js';
import type { RunPhaseContext } from './phase-context.js';
import { finishStragglers } from './straggler-round.js';
import { planRetryRound, realtimeRetryDir, realtimeRetryResults } from './retry-round.js';
import { saveRunState, type RunState } from './run-state.js';

/** Add, run and evaluate retry rounds until everything succeeded or `retries` rounds ran. Crash-safe at every step. */
export async function retryRounds(ctx: RunPhaseContext): Promise<void> {
  const { jobDir, state, plan, jobOptions, emit, realtime, deadline } = ctx;
  while (!state.retriesDone) {
    const manifest = await loadManifest(jobDir);
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
        if (last.parts.some((p) => p.part === null)) await attachParts(jobDir, state, manifest, last.parts);
        emit({ type: 'phase', phase: 'retry', message: `retry round ${last.round}: ${requests} requests`, round: last.round });
        // The job's counts span every part and round: the round reports its own parts against its own requests.
        const first = last.parts.map((p) => p.part!).sort()[0]!;
        const onProgress = (e: JobEvent) => emit(e.type === 'progress' ? roundProgress(e, last.round, requests, first) : e);
        await driveJob(jobDir, { ...jobOptions, onProgress }, deadline);
        // A batch round's straggler batches are finished within the round (their results belong to it).
        await finishStragglers(ctx);
      }
      last.finished = true;
      await saveRunState(jobDir, state);
      continue;
    }
    const round = (last?.round ?? 0) + 1;
    if (round > state.settings.retries || manifest.cancelledAt) {
      state.retriesDone = true;
      await saveRunState(jobDir, state);
      break;
    }
    const planned = await planRetryRound(jobDir, state, manifest, plan, round);
    if (planned.length === 0) {
      state.retriesDone = true;
      await saveRunState(jobDir, state);
      break;
    }
    const requests = planned.reduce((n, p) => n + p.requests, 0);
    // Invalid answers are successes to the realtime engine, so a realtime round always re-sends (its own answers log).
    const via = state.mode === 'realtime' || (state.settings.finishRealtime && requests < (state.settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD)) ? 'realtime' : 'batch';
    if (via === 'realtime') for (const p of planned) p.results = realtimeRetryResults(round, p.chunk);
    state.rounds.push({ round, via, parts: planned, finished: false });
    await saveRunState(jobDir, state);
    emit({ type: 'retry-round', round, requests, parts: planned.length, via });
  }
}

/** Give a planned round its job parts: ones a crash left unclaimed in the manifest, else new ones from addChunks. */
export async function attachParts(jobDir: string, state: RunState, manifest: JobManifest, parts: RunState['rounds'][number]['parts']): Promise<void> {
  const claimed = new Set(state.rounds.filter((r) => r.via !== 'realtime').flatMap((r) => r.parts.map((p) => p.part)).filter((p): p is string => p !== null));
  const unclaimed = manifest.parts.filter((p) => p.kind === 'retry' && !claimed.has(p.index)).map((p) => p.index);
  const pending = parts.filter((p) => p.part === null);
  const indexes = unclaimed.length === pending.length ? unclaimed : await addChunks(jobDir, pending.map((p) => join(jobDir, p.file)));
  crashPoint('run-after-add-retries');
  pending.forEach((p, i) => (p.part = indexes[i]!));
  await saveRunState(jobDir, state);
}
