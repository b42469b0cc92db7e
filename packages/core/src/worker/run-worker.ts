// The worker loop: take due steps up to the free slots, run each as a slice, settle it in the queue, repeat.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { functionField, positiveIntField, positiveMsField, signalField } from '../options.js';
import { planStep, type StepName } from './next-step.js';
import { planOutcome, runStep, type StepContext, type StepLogOutcome, type StepResult } from './run-step.js';
import { openStepQueue, type QueuedStep, type StepQueue } from './step-queue.js';
import { holdLease, leaseCapMs, renewalIntervalMs } from './step-lease.js';
import { openPostgresDatabase } from '../state/postgres-store.js';
import { redactSecrets } from '../state/open-job-store.js';

/** The most connections a worker's statement pool opens (each new one costs the server a backend: ~20 ms of CPU and its caches). */
const WORKER_POOL_MAX = 2;

/** Options of {@link runWorker}. */
export const RunWorkerOptionsSchema = z.object({
  databaseUrl: z.string({ error: 'must be a Postgres URL' }).min(1, { error: 'must be a Postgres URL' }),
  /** The shared directory of job files, the same path on every machine. */
  storage: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
  cwd: z.string().optional(),
  /** Steps run at once (default 4). */
  concurrency: positiveIntField().default(4),
  /** Longest a step drives its job before handing it back to the queue (default 60 s). */
  sliceMs: positiveMsField().default(60_000),
  /** How long a step may run before pg-boss gives it to another worker (a killed worker's step; default 300 s). */
  leaseSeconds: positiveIntField().default(300),
  /** The delay before a failed or expired step is tried again (default 60 s; 10 tries, then failed for good). */
  retryDelaySeconds: positiveIntField().default(60),
  /** How often pg-boss looks for expired steps (default 10 s). */
  maintenanceSeconds: positiveIntField().default(10),
  /** How often the worker looks for due steps while it has free slots (default 500 ms). */
  fetchIntervalMs: positiveMsField().default(500),
  /** When a job's batches are still running: the delay before its next step, and the longest wait between polls (default 15 s). */
  pollIntervalMs: positiveMsField().default(15_000),
  /** When another process holds the job (JOB_LOCKED): the delay before its next step (default 5 s). */
  lockedDelayMs: positiveMsField().default(5_000),
  /** Stop: no new steps; running ones are aborted (state saved) and handed back at once. */
  signal: signalField().optional(),
  clientFor: functionField<StepContext['clientFor']>(),
  /** Told once per step, as it ends. */
  onStep: functionField<(log: StepLog) => void>().optional(),
  /** Background and queue errors (the loop goes on). */
  onError: functionField<(error: Error) => void>().optional(),
  onWarning: functionField<(message: string) => void>().optional(),
});
export type RunWorkerOptions = z.input<typeof RunWorkerOptionsSchema>;

/** One step, as a worker logs it. */
export interface StepLog {
  jobId: string;
  step: StepName;
  /** done, running (batches still running: next step queued), locked, stopped (handed back), lost (its lease ran out), failed, retrying. */
  outcome: StepLogOutcome;
  ms: number;
  /** The error's code and message, for failed and retrying steps. */
  code?: string;
  message?: string;
  /** ms spent in queue calls for this step (fetch share, complete/fail, enqueue). */
  queueMs: number;
}

/** What a worker did until it stopped. */
export interface WorkerReport {
  steps: number;
  /** ms spent in queue calls (fetches included) over all steps. */
  queueMs: number;
}

/**
 * Process job steps until `signal` aborts: up to `concurrency` at once, each a slice of its job's resume path. On
 * abort, running slices are stopped (their state saved as on any interrupt) and their steps handed back at once.
 * @example await runWorker({ databaseUrl, storage: '/mnt/kbatch', clientFor: (store) => clientFor(store), signal });
 */
export async function runWorker(options: RunWorkerOptions): Promise<WorkerReport> {
  const opts = parseOptions(RunWorkerOptionsSchema, options, 'runWorker');
  // One pool for the queue and every step's store, one for locks. A statement takes about a millisecond and none holds a
  // pooled connection while it waits for another: 2 serve any number of steps (more open only for bursts of parts saving at once).
  const onPoolError = (error: Error): void => opts.onError?.(new Error(redactSecrets(error.message, opts.databaseUrl)));
  const database = await openPostgresDatabase(opts.databaseUrl, { max: WORKER_POOL_MAX, onError: onPoolError });
  try {
    const queue = await openStepQueue({
      databaseUrl: opts.databaseUrl,
      pool: database.pool,
      supervise: true,
      leaseSeconds: opts.leaseSeconds,
      maintenanceSeconds: opts.maintenanceSeconds,
      retryDelaySeconds: opts.retryDelaySeconds,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    try {
      return await workLoop(queue, opts, { databaseUrl: opts.databaseUrl, database, storage: opts.storage, sliceMs: opts.sliceMs, pollIntervalMs: opts.pollIntervalMs, clientFor: opts.clientFor, ...(opts.cwd ? { cwd: opts.cwd } : {}), ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
    } finally {
      await queue.close();
    }
  } finally {
    await database.close();
  }
}

/** Take due steps up to the free slots and run them, until stopped; then wait for the running ones. */
async function workLoop(queue: StepQueue, opts: z.output<typeof RunWorkerOptionsSchema>, context: StepContext): Promise<WorkerReport> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const report: WorkerReport = { steps: 0, queueMs: 0 };
  const running = new Set<Promise<void>>();
  // An idle worker looks less and less often (up to 4 fetch intervals apart): its fetches are its only cost.
  let idle = 0;
  try {
    while (!stop.signal.aborted) {
      const free = opts.concurrency - running.size;
      const steps = free > 0 ? await timed(report, () => queue.fetch(free)).catch((error: unknown) => (opts.onError?.(error as Error), [] as QueuedStep[])) : [];
      idle = steps.length === 0 && running.size === 0 ? Math.min(idle + 1, 4) : 0;
      for (const step of steps) {
        const work: Promise<void> = settleStep(step, queue, { opts, context, report, stop: stop.signal }).finally(() => running.delete(work));
        running.add(work);
      }
      // Wake when a slot frees up, on stop, or after the fetch interval (new steps may be due).
      const wait = opts.fetchIntervalMs * Math.max(1, idle);
      if (steps.length === 0 || running.size >= opts.concurrency) await Promise.race([sleep(wait, undefined, { signal: stop.signal }).catch(() => {}), ...running]);
    }
    await Promise.all(running);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return report;
}

interface SettleContext {
  opts: z.output<typeof RunWorkerOptionsSchema>;
  context: StepContext;
  report: WorkerReport;
  stop: AbortSignal;
}

/** Run one step and settle it: complete it, queue the job's next step, or fail it (pg-boss retries or not). */
async function settleStep(step: QueuedStep, queue: StepQueue, { opts, context, report, stop }: SettleContext): Promise<void> {
  const started = Date.now();
  const delays = { pollMs: opts.pollIntervalMs, lockedMs: opts.lockedDelayMs };
  const capMs = leaseCapMs(opts.sliceMs, opts.leaseSeconds);
  const onCapped = () => opts.onWarning?.(`job ${step.jobId}: its step has run over ${Math.round(capMs / 1000)} s, taken for hung: stopping it and handing it back`);
  const renew = async () => (await queue.renew([step])).has(step.id);
  const lease = holdLease({ everyMs: renewalIntervalMs(opts.leaseSeconds), renew, maxMs: capMs, onCapped, ...(opts.onError ? { onError: opts.onError } : {}) });
  const onLost = () => {
    // At the cap the step is still this worker's: it is stopped and handed back like one the worker stops (onCapped says so).
    if (!lease.capped) opts.onWarning?.(`job ${step.jobId}: its step's lease ran out (another worker has it, or it is queued again): stopping the step, its state saved`);
  };
  lease.lost.addEventListener('abort', onLost, { once: true });
  const signal = AbortSignal.any([stop, lease.lost]);
  let result: StepResult;
  try {
    result = await runStep({ jobId: step.jobId, attempt: step.retryCount + 1 }, signal, { ...context, planFor: (outcome) => planStep(outcome, delays, stop.aborted || lease.capped, lease.lost.aborted && !lease.capped) });
  } finally {
    await lease.release();
  }
  const { plan } = result;
  const before = report.queueMs;
  let settled = true;
  try {
    settled = await timed(report, () => settle(queue, step, result));
  } catch (error) {
    // Nothing was recorded in the queue: logged as lost, not as the plan's outcome.
    settled = false;
    opts.onError?.(error as Error);
  }
  report.steps++;
  const failure = plan.action === 'fail' ? { code: plan.code, message: plan.message } : {};
  try {
    opts.onStep?.({ jobId: step.jobId, step: result.name, outcome: settledOutcome(plan, settled), ms: Date.now() - started, queueMs: report.queueMs - before, ...failure });
  } catch {
    // A failing logger must not stop the worker.
  }
}

/** The outcome to log: the plan's, or `lost` when the queue found the step no longer this worker's as it settled it. */
export function settledOutcome(plan: StepResult['plan'], settled: boolean): StepLogOutcome {
  return settled ? planOutcome(plan) : 'lost';
}

/** Settle the step in the queue; false when it is no longer this worker's (nothing done). */
async function settle(queue: StepQueue, step: QueuedStep, { name, plan, counts }: StepResult): Promise<boolean> {
  if (plan.action === 'done') return queue.complete(step, { step: name, outcome: 'done', ...counts });
  const failure = plan.action === 'fail' ? { step: name, code: plan.code, message: plan.message } : null;
  if (plan.action === 'fail' && plan.retry) return queue.fail(step, failure!);
  // A retry cannot change the outcome: the step ends here, its error recorded for the job.
  if (plan.action === 'fail') return queue.complete(step, { ...failure, outcome: 'failed' });
  return queue.complete(step, { step: name, outcome: plan.reason }, { delayMs: plan.delayMs });
}

async function timed<T>(report: WorkerReport, body: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await body();
  } finally {
    report.queueMs += performance.now() - started;
  }
}
