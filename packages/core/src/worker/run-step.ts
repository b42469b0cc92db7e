// One step of a job: a lease-bounded slice of the job's own resume path (what `kbatch resume ID` runs).
import { join } from 'node:path';
import { KbatchError } from '../errors.js';
import type { JobClient } from '../job/job-types.js';
import { resumeRun } from '../run/run-job.js';
import { nothingSent } from '../run/run-settings.js';
import type { RunSummary } from '../run/run-options.js';
import type { JobStore } from '../state/job-store.js';
import { openJobStore } from '../state/open-job-store.js';
import { stepName, type StepName, type StepOutcome } from './next-step.js';

/** What every step of a worker shares. */
export interface StepContext {
  databaseUrl: string;
  /** The shared directory of job files (the same path on every machine). */
  storage: string;
  cwd?: string;
  /** The slice: the run's `timeoutMs` for this step (AWAIT_TIMEOUT when batches are still running then). */
  sliceMs: number;
  /** Longest wait between polls within a slice. */
  pollIntervalMs?: number;
  /** The job's client, built as `kbatch resume ID` builds it: the run's provider and base URL, this worker's key. */
  clientFor: (store: JobStore) => Promise<JobClient> | JobClient;
  onWarning?: (message: string) => void;
}

/** A step's name (the job's phase when it started), how it ended, and with a finished run its summary. */
export interface StepResult {
  name: StepName;
  outcome: StepOutcome;
  summary?: RunSummary;
}

/**
 * Run one slice of a job: open its store, name the step by the job's phase, and continue the run for at most
 * `sliceMs`. The job's lock makes it safe to run anywhere, any number of times (the adoption rules of a resumed job
 * apply); a job whose rows are written is `done` without running again. Never throws: errors are the outcome.
 */
export async function runStep(jobId: string, signal: AbortSignal, at: StepContext): Promise<StepResult> {
  let name: StepName = 'prepare';
  try {
    const { store, close } = await openJobStore({ databaseUrl: at.databaseUrl, jobId, storage: at.storage, ...(at.cwd ? { cwd: at.cwd } : {}) });
    try {
      const state = await store.readRunState();
      if (state === null) throw new KbatchError('JOB_NOT_FOUND', `No kbatch run with the id ${jobId} in the database (workers continue jobs started by kbatch run --detach)`, { file: jobId });
      name = stepName(state, !(await nothingSent(store, state)));
      if (name === 'done') return { name, outcome: { kind: 'finished' } };
      // A worker never writes a job's rows to its own stdout: a run that printed them writes its job file instead.
      const output = state.settings.output === '-' ? { output: join(store.dir, `output.${state.settings.outputFormat}`) } : {};
      const summary = await resumeRun(store.dir, {
        store,
        client: await at.clientFor(store),
        timeoutMs: at.sliceMs,
        signal,
        ...output,
        ...(at.cwd ? { cwd: at.cwd } : {}),
        ...(at.pollIntervalMs !== undefined ? { pollIntervalMs: at.pollIntervalMs } : {}),
        ...(at.onWarning ? { onWarning: at.onWarning } : {}),
      });
      return { name, outcome: { kind: 'finished' }, summary };
    } finally {
      await close();
    }
  } catch (error) {
    return { name, outcome: { kind: 'error', error } };
  }
}
