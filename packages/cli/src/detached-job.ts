// What status, wait and results show of a job the workers run (kbatch run --detach): its steps in the queue.
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDetached, KbatchError, openStepReader, PostgresJobStore, type JobStore, type StepReader, type StepStatus, type WorkerStep } from '@kbatch/core';
import type { RunState } from '@kbatch/core/internal';
import { EXIT, ExitError } from './exit-error.js';
import type { CliIo } from './io.js';

/** The job's latest step as one status line: queued, active, retrying with its last error, done, failed. */
export function formatStep(step: StepStatus): string {
  const out = step.output ?? {};
  const state = step.state === 'created' ? `queued (due ${step.startAfter})` : step.state === 'retry' ? `retrying (attempt ${step.retryCount + 1}, due ${step.startAfter})` : step.state;
  const last = out.step !== undefined ? `, step ${out.step}${out.outcome !== undefined && out.outcome !== state ? ` ${out.outcome}` : ''}` : '';
  const error = out.code !== undefined ? `: [${out.code}] ${out.message ?? ''}` : '';
  return `workers: ${state}${last}${error}\n`;
}

/** What a detached job's watcher concludes: keep watching, or its end (exit code and why). */
type Verdict = { end: false } | { end: true; code: number; message?: string };

/** The verdict from the run state (the workers' record) and the queue (is a step queued or running?). */
function verdictOf(jobId: string, state: RunState, step: StepStatus | null): Verdict {
  const pending = step !== null && ['created', 'retry', 'active'].includes(step.state);
  if (pending) return { end: false };
  const rerun = `run the same \`kbatch run … --detach\` again to queue it`;
  if (state.phase === 'joined') {
    const failed = state.step?.failed ?? (step?.output as { failed?: number } | null)?.failed ?? 0;
    return failed > 0 ? { end: true, code: EXIT.partial, message: `${failed} of ${state.step?.records ?? '?'} records did not succeed` } : { end: true, code: EXIT.ok };
  }
  if (step?.state === 'failed' || state.step?.outcome === 'failed') return { end: true, code: EXIT.error };
  if (step === null && state.step === undefined) throw new KbatchError('JOB_NOT_QUEUED', `job ${jobId} is not queued (its detach stopped before it queued the first step): ${rerun}`, { file: jobId });
  throw new KbatchError('JOB_NOT_QUEUED', `job ${jobId} is not finished and no step of it is queued or running (lost from the queue): ${rerun}`, { file: jobId });
}

/**
 * `kbatch wait ID` of a detached job: watch its run state and its steps in the database (never drive it, no lock)
 * until the workers finish it; exit as the run would: 0, 3 when records failed, 1 when its step failed for good.
 * @throws KbatchError JOB_NOT_QUEUED (not queued, or lost from the queue), ABORTED (Ctrl-C: the workers go on)
 */
export async function waitForWorkers(io: CliIo, at: { databaseUrl: string; store: JobStore; pollMs: number; signal: AbortSignal }): Promise<void> {
  // On the store's pool: the watcher opens no second connection.
  const reader = await openStepReader(at.databaseUrl, at.store instanceof PostgresJobStore ? { pool: at.store.database.pool } : {});
  try {
    await watch(io, reader, at);
  } finally {
    await reader.close();
  }
}

async function watch(io: CliIo, reader: StepReader, at: { store: JobStore; pollMs: number; signal: AbortSignal }): Promise<void> {
  const jobId = at.store.jobId!;
  let shown = '';
  for (;;) {
    const state = await at.store.readRunState();
    if (state === null) throw new KbatchError('JOB_NOT_FOUND', `No kbatch run with the id ${jobId} in the database`, { file: jobId });
    const step = await reader.latest(jobId);
    const line = step === null ? (state.step ? formatRecordedStep(state.step) : 'workers: no step queued\n') : formatStep(step);
    if (line !== shown) io.stderr.write((shown = line));
    const verdict = verdictOf(jobId, state, step);
    if (verdict.end) {
      if (verdict.code === EXIT.ok) return;
      throw new ExitError(verdict.code, verdict.message);
    }
    try {
      await sleep(at.pollMs, undefined, { signal: at.signal });
    } catch {
      throw new KbatchError('ABORTED', `stopped watching job ${jobId}; the workers go on with it (kbatch wait ${jobId} to watch it again)`);
    }
  }
}

/** A step as its worker recorded it in the run state (the queue may have forgotten it). */
export function formatRecordedStep(step: WorkerStep): string {
  const error = step.code !== undefined ? `: [${step.code}] ${step.message ?? ''}` : '';
  return `workers: step ${step.name} ${step.outcome} (attempt ${step.attempt}, ${step.at})${error}\n`;
}

/**
 * The rows file the workers write for a detached run, once written; null for other jobs.
 * @throws KbatchError JOB_NOT_FINISHED for a detached run whose rows are not written yet
 */
export async function detachedOutput(store: JobStore): Promise<string | null> {
  const state = await store.readRunState();
  if (state === null || !isDetached(state, store.dir)) return null;
  const ref = store.jobId ?? store.dir;
  if (state.phase !== 'joined') throw new KbatchError('JOB_NOT_FINISHED', `job ${ref} is not finished: kbatch wait ${ref}`, { file: ref });
  const file = join(store.dir, `output.${state.settings.outputFormat}`);
  return (state.settings.output ?? file) === file && existsSync(file) ? file : null;
}

/** Print a file to stdout, streamed. */
export async function printFile(io: CliIo, file: string): Promise<void> {
  await pipeline(createReadStream(file), io.stdout, { end: false });
}
