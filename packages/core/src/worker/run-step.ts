// One step of a job: a lease-bounded slice of the job's own resume path (what `kbatch resume ID` runs).
import { join } from 'node:path';
import { isKbatchError, KbatchError } from '../errors.js';
import type { JobClient } from '../job/job-types.js';
import { resumeRun } from '../run/run-job.js';
import { nothingSent } from '../run/run-settings.js';
import type { JobStore } from '../state/job-store.js';
import type { JobLock } from '../state/lock.js';
import { openJobStore } from '../state/open-job-store.js';
import type { PostgresDatabase } from '../state/postgres-store.js';
import type { RunState, WorkerStep } from '../state/run-state.js';
import { stepName, type StepName, type StepOutcome, type StepPlan } from './next-step.js';

/** What every step of a worker shares. */
export interface StepContext {
  databaseUrl: string;
  /** The worker's pools on that database, shared by every step's job store (one schema check, reused connections). */
  database?: Pick<PostgresDatabase, 'pool' | 'sessions'>;
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

/** A finished run's counts. */
export type StepCounts = Pick<WorkerStep, 'records' | 'succeeded' | 'failed'>;

/** A step's name (the job's phase when it started), how it ended, what comes next, and with a finished run its counts. */
export interface StepResult {
  name: StepName;
  outcome: StepOutcome;
  plan: StepPlan;
  counts?: StepCounts;
}

/** How a step is named in its job's record and the worker's log. */
export type StepLogOutcome = 'done' | 'running' | 'locked' | 'stopped' | 'lost' | 'failed' | 'retrying';

/** The outcome word for a plan: done, running, locked, stopped, lost, retrying, failed (for good). */
export function planOutcome(plan: StepPlan): StepLogOutcome {
  return plan.action === 'done' ? 'done' : plan.action === 'requeue' ? plan.reason : plan.retry ? 'retrying' : 'failed';
}

/**
 * Run one slice of a job: open its store, name the step by the job's phase, and continue the run for at most
 * `sliceMs`; then record the step in the job's run state. The job's lock makes it safe to run anywhere, any number
 * of times (the adoption rules of a resumed job apply); a job whose rows are written is `done` without running again
 * (its counts are the ones recorded). Never throws: errors are the outcome.
 */
export async function runStep(step: { jobId: string; attempt: number }, signal: AbortSignal, at: StepContext & { planFor: (outcome: StepOutcome) => StepPlan }): Promise<StepResult> {
  let name: StepName = 'prepare';
  let store: JobStore | null = null;
  let close = async () => {};
  let outcome: StepOutcome;
  let counts: StepCounts | undefined;
  try {
    ({ store, close } = await openJobStore({ databaseUrl: at.databaseUrl, jobId: step.jobId, storage: at.storage, ...(at.database ? { database: at.database } : {}), ...(at.cwd ? { cwd: at.cwd } : {}) }));
    const state = await store.readRunState();
    if (state === null) throw new KbatchError('JOB_NOT_FOUND', `No kbatch run with the id ${step.jobId} in the database (workers continue jobs started by kbatch run --detach)`, { file: step.jobId });
    name = stepName(state, !(await nothingSent(store, state)));
    // Joined before (a step killed before it recorded the counts, a rerun of `run --detach`): the recorded counts, else joined again from the saved results.
    counts = name === 'done' && state.step?.failed !== undefined ? countsOf(state.step) : countsOf(await resumeSlice(store, state, signal, at));
    outcome = { kind: 'finished' };
  } catch (error) {
    outcome = { kind: 'error', error };
  }
  const plan = at.planFor(outcome);
  try {
    if (store !== null) await recordStep(store, { name, outcome: planOutcome(plan), attempt: step.attempt, at: new Date().toISOString(), ...failureOf(plan), ...counts });
  } catch (error) {
    at.onWarning?.(`job ${step.jobId}: its step was not recorded: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await close().catch(() => {});
  }
  return { name, outcome, plan, ...(counts ? { counts } : {}) };
}

function resumeSlice(store: JobStore, state: RunState, signal: AbortSignal, at: StepContext) {
  return (async () =>
    resumeRun(store.dir, {
      store,
      client: await at.clientFor(store),
      timeoutMs: at.sliceMs,
      signal,
      // A worker never writes a job's rows to its own stdout: a run that printed them writes its job file instead.
      ...(state.settings.output === '-' ? { output: join(store.dir, `output.${state.settings.outputFormat}`) } : {}),
      ...(at.cwd ? { cwd: at.cwd } : {}),
      ...(at.pollIntervalMs !== undefined ? { pollIntervalMs: at.pollIntervalMs } : {}),
      ...(at.onWarning ? { onWarning: at.onWarning } : {}),
    }))();
}

const countsOf = (c: StepCounts): StepCounts => ({ records: c.records!, succeeded: c.succeeded!, failed: c.failed! });
const failureOf = (plan: StepPlan) => (plan.action === 'fail' ? { code: plan.code, message: plan.message } : {});

/**
 * The step into the job's run state, under the job's lock (a fresh read, then the write): a job another process
 * holds (JOB_LOCKED) keeps its state as that process writes it.
 */
async function recordStep(store: JobStore, step: WorkerStep): Promise<void> {
  const lock = await lockUnlessHeld(store);
  if (lock === null) return;
  try {
    const state = await store.readRunState();
    if (state === null) return;
    state.step = step;
    await store.writeRunState(state);
  } finally {
    await lock.release();
  }
}

/** The job's lock, or null when another process holds it (JOB_LOCKED). */
export function lockUnlessHeld(store: JobStore): Promise<JobLock | null> {
  return store.lock().catch((error: unknown) => {
    if (isKbatchError(error) && error.code === 'JOB_LOCKED') return null;
    throw error;
  });
}
