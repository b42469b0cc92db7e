// The sending phases of a run and the per-chunk gates a streaming realtime join waits on.
import { join } from 'node:path';
import { jobPath } from '../job/create-job.js';
import { createWakeup } from '../internal/wakeup.js';
import type { JoinPlan } from '../join/join-plan.js';
import type { BatchResult } from '../join/result-line.js';
import type { RealtimeResultLine } from '../realtime/realtime-types.js';
import { realtimeChunkResults } from '../job/attempts.js';
import type { RunPhaseContext } from './phase-context.js';
import { retryRounds } from './run-retry-rounds.js';
import { driveJob } from './drive-job.js';
import { resultCause } from './failure-cause.js';
import { finishStragglers } from './straggler-round.js';
import type { RunState } from '../state/run-state.js';

/** Records rejected while preparing are kept here (JSON lines, input order); the join makes each a skipped row. */
export const PREPARE_REJECTS_FILE = join('run', 'prepare-rejects.jsonl');

/**
 * Send what is unsent and run the retry rounds (realtime or batch); `onChunkDone` hears of each realtime chunk
 * finished in round 0, `onResult` of each round-0 realtime result as it arrives.
 */
export async function runPhases(
  ctx: RunPhaseContext,
  onChunkDone?: (index: number) => Promise<void>,
  onResult?: (line: RealtimeResultLine, index: number) => void,
): Promise<void> {
  const { jobDir, store, state, jobOptions, emit, realtime, deadline } = ctx;
  if (state.chunks.length > 0 && state.mode === 'realtime') {
    if (state.phase === 'prepared') {
      const manifest = await store.readManifest();
      const total = state.chunks.reduce((n, c) => n + c.requests, 0);
      emit({ type: 'phase', phase: 'submit', message: `sending ${total} request${total === 1 ? '' : 's'} to /v1/chat/completions (realtime) from ${jobDir}` });
      await realtime.run(
        state.chunks.map((c) => jobPath(jobDir, manifest.parts.find((p) => p.index === c.part)!.path)),
        state.chunks.map((_, i) => jobPath(jobDir, realtimeChunkResults(i))),
        undefined,
        total,
        onChunkDone,
        onResult,
      );
      state.phase = 'submitted';
      await store.writeRunState(state);
    }
    await retryRounds(ctx);
  } else if (state.chunks.length > 0) {
    if (state.phase === 'prepared') {
      emit({ type: 'phase', phase: 'submit', message: `running ${state.chunks.length} batch${state.chunks.length === 1 ? '' : 'es'} in ${jobDir}` });
      await driveJob(jobDir, jobOptions, deadline);
      state.phase = 'submitted';
      await store.writeRunState(state);
    }
    // Before any retry round is planned: the leftovers of batches cancelled as stragglers (not a retry).
    await finishStragglers(ctx);
    await retryRounds(ctx);
  } else if (state.phase === 'prepared') {
    state.phase = 'submitted';
    state.retriesDone = true;
    await store.writeRunState(state);
  }
}

/** Per-chunk "results are final" latches the join waits on (resolved early per chunk, or all at once at the end). */
export interface ChunkGate {
  wait(index: number): Promise<void>;
  /** Chunk indexes in the order their gates opened (each once), until all are open; throws what `fail` got. */
  opened(): AsyncGenerator<number>;
  open(index: number): void;
  openAll(): void;
  fail(err: unknown): void;
}

/** A gate of `count` chunks, all closed. */
export function chunkGate(count: number): ChunkGate {
  const latches = Array.from({ length: count }, () => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  });
  for (const l of latches) l.promise.catch(() => {});
  const isOpen = new Array<boolean>(count).fill(false);
  const order: number[] = [];
  let failure: { err: unknown } | null = null;
  const wake = createWakeup();
  const open = (index: number): void => {
    if (isOpen[index]) return;
    isOpen[index] = true;
    order.push(index);
    latches[index]!.resolve();
    wake.notify();
  };
  return {
    wait: (index) => latches[index]!.promise,
    async *opened() {
      for (let n = 0; n < count; n++) {
        while (order.length <= n) {
          if (failure) throw failure.err;
          await wake.wait();
        }
        yield order[n]!;
      }
    },
    open,
    openAll: () => {
      for (let i = 0; i < count; i++) open(i);
    },
    fail: (err) => {
      failure = { err };
      latches.forEach((l) => l.reject(err));
      wake.notify();
    },
  };
}

/**
 * Whether a round-0 result is final, i.e. no retry round will send its request again: always with retries off,
 * else a success whose answer the labels/schema accept, or a failure a retry cannot change (what the retry rounds leave alone).
 */
export function isFinalResult(state: RunState, plan: JoinPlan): (result: BatchResult) => boolean {
  if (state.settings.retries === 0) return () => true;
  return (result) => resultCause(result, plan)?.retry !== true;
}
