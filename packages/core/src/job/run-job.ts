import { z } from 'zod';
import pLimit from 'p-limit';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { isTerminalStatus } from '../client/schemas.js';
import { backoffDelay, isAbortError, isTransientError, retryAfterMs, sleep } from '../client/retry.js';
import { retrieveBatch } from '../batch/create-batch.js';
import { createJob } from './create-job.js';
import { ManifestStore, type JobPart } from './manifest.js';
import { acquireJobLock } from './lock.js';
import type { JobContext } from './context.js';
import type { JobClient, JobEvent, JobSummary } from './types.js';
import { submitPart, messageOf, partMetadata } from './submit-part.js';
import { findBatchByMetadata } from '../batch/find-batch.js';
import { applyBatch, finishPart } from './finish-part.js';
import { partProgress, summarizeJob } from './summary.js';
import { crashPoint } from './crash-point.js';

/** Options shared by {@link runBatchJob} and {@link resumeJob}. */
export const JobOptionsSchema = z.object({
  client: z.custom<JobClient>((v) => typeof v === 'object' && v !== null && 'batches' in v && 'files' in v, {
    error: 'must be an openai client (see createKlusterClient)',
  }),
  window: z.string().regex(/^\d+h$/, { error: 'must be a completion window such as "24h"' }).default('24h'),
  concurrency: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).default(4),
  pollIntervalMs: z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' }).default(15_000),
  timeoutMs: z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' }).optional(),
  wait: z.boolean({ error: 'must be a boolean' }).default(true),
  noResubmit: z.boolean({ error: 'must be a boolean' }).default(false),
  maxResubmits: z.int({ error: 'must be a non-negative integer' }).min(0, { error: 'must be a non-negative integer' }).default(3),
  cancelOnInterrupt: z.boolean({ error: 'must be a boolean' }).default(false),
  retryBaseMs: z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' }).default(500),
  downloadAttempts: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).default(4),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'must be an AbortSignal' }).optional(),
  onProgress: z.custom<(event: JobEvent) => void>((v) => typeof v === 'function', { error: 'must be a function' }).optional(),
});
export type JobOptions = z.input<typeof JobOptionsSchema>;

/** Options of {@link runBatchJob}: chunk files for a new job, or the directory of an existing one. */
export const RunBatchJobOptionsSchema = JobOptionsSchema.extend({
  chunks: z.array(z.string(), { error: 'must be a list of chunk files or directories' }).min(1, { error: 'must name at least one chunk file' }).optional(),
  jobDir: z.string({ error: 'must be a directory path' }).optional(),
  cwd: z.string().optional(),
});
export type RunBatchJobOptions = z.input<typeof RunBatchJobOptionsSchema>;

/**
 * Take chunk files to downloaded results as a durable job: create the job directory, upload and create batches
 * (bounded concurrency, idempotent), wait with backoff, download and verify, resubmit expired leftovers.
 * Every step is recorded in the manifest first, so {@link resumeJob} can continue after any crash.
 * @example
 * const summary = await runBatchJob({ chunks: ['out/chunks'], client: createKlusterClient(), window: '24h' });
 * for await (const line of readJobResults(summary.jobDir)) console.log(line.custom_id);
 */
export async function runBatchJob(options: RunBatchJobOptions): Promise<JobSummary> {
  const opts = parseOptions(RunBatchJobOptionsSchema, options, 'runBatchJob');
  if (!opts.chunks) {
    if (!opts.jobDir) throw new KbatchError('OPTION_INVALID', 'Invalid options for runBatchJob: must give `chunks` or `jobDir`');
    return drive(opts.jobDir, opts, true);
  }
  const { jobDir } = await createJob({
    chunks: opts.chunks,
    window: opts.window,
    ...(opts.jobDir ? { jobDir: opts.jobDir } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  return drive(jobDir, opts, false);
}

/**
 * Continue a job after a crash, Ctrl-C or `--no-wait`: submit what was not submitted, adopt what was created
 * but not recorded, wait, download. Safe to run any number of times.
 * @param jobDir - the job directory
 */
export async function resumeJob(jobDir: string, options: JobOptions): Promise<JobSummary> {
  const opts = parseOptions(JobOptionsSchema, options, 'resumeJob');
  return drive(jobDir, opts, true);
}

async function drive(jobDir: string, opts: z.output<typeof JobOptionsSchema>, resumed: boolean): Promise<JobSummary> {
  const lock = await acquireJobLock(jobDir);
  try {
    const store = await ManifestStore.open(jobDir);
    const emit = (event: JobEvent) => {
      try {
        opts.onProgress?.(event);
      } catch {
        // A failing progress renderer must not break the job.
      }
    };
    const ctx: JobContext = {
      store,
      client: opts.client,
      limit: pLimit(opts.concurrency),
      emit,
      ...(opts.signal ? { signal: opts.signal } : {}),
      opts: {
        concurrency: opts.concurrency,
        pollIntervalMs: opts.pollIntervalMs,
        retryBaseMs: opts.retryBaseMs,
        noResubmit: opts.noResubmit,
        maxResubmits: opts.maxResubmits,
        downloadAttempts: opts.downloadAttempts,
      },
    };
    const { manifest } = store;
    emit({
      type: 'job',
      jobId: manifest.jobId,
      jobDir,
      parts: manifest.parts.length,
      requests: manifest.parts.filter((p) => p.kind === 'chunk').reduce((n, p) => n + p.requests, 0),
      resumed,
    });
    try {
      if (manifest.cancelledAt) await settleCancelled(ctx);
      else {
        await settleAll(manifest.parts.filter((p) => !p.batchId && !p.done).map((p) => ctx.limit(() => submitPart(ctx, p))));
      }
      if (opts.wait) await waitForParts(ctx, opts.timeoutMs);
    } catch (error) {
      if (isAbortError(error) || opts.signal?.aborted) await onInterrupt(ctx, opts.cancelOnInterrupt);
      throw error;
    }
    return summarizeJob(jobDir, manifest);
  } finally {
    await lock.release();
  }
}

// Wait for every promise so each part's state is saved, then surface the first failure.
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

async function onInterrupt(ctx: JobContext, cancel: boolean): Promise<never> {
  const { store } = ctx;
  if (cancel) {
    store.manifest.cancelledAt = new Date().toISOString();
    await store.save();
    await cancelParts(ctx, store.manifest.parts);
  }
  throw new KbatchError(
    'ABORTED',
    cancel
      ? `Interrupted; the job's batches were cancelled. Collect what finished with: kbatch resume ${store.jobDir}`
      : `Interrupted; the job is saved. Continue it with: kbatch resume ${store.jobDir}`,
  );
}

/** Ask the server to cancel every unfinished batch of these parts (never throws for one batch). */
export async function cancelParts(ctx: Pick<JobContext, 'store' | 'client' | 'emit'>, parts: JobPart[]): Promise<number> {
  let cancelled = 0;
  for (const part of parts) {
    if (!part.batchId || part.done || (part.status && isTerminalStatus(part.status))) continue;
    try {
      const batch = await ctx.client.batches.cancel(part.batchId);
      part.cancelRequested = true;
      if (batch && typeof batch === 'object' && 'status' in batch) part.status = String(batch.status);
      cancelled++;
    } catch (error) {
      ctx.emit({ type: 'warning', part: part.index, message: `cancelling ${part.batchId} failed: ${messageOf(error)}` });
    }
  }
  await ctx.store.save();
  return cancelled;
}

/**
 * In a cancelled job, parts without a batch are never submitted: adopt (and cancel) a batch whose create
 * was recorded but not its answer, otherwise mark the part done as `not_submitted`.
 */
async function settleCancelled(ctx: JobContext): Promise<void> {
  const { store, client, signal } = ctx;
  for (const part of store.manifest.parts) {
    if (part.done || part.batchId) continue;
    if (part.createStartedAt) {
      const [found] = await findBatchByMetadata(client.batches, partMetadata(store.manifest.jobId, part), signal ? { signal } : {});
      if (found) {
        part.batchId = found.id;
        part.adopted = true;
        applyBatch(part, found);
        await cancelParts(ctx, [part]);
        continue;
      }
    }
    part.status = 'not_submitted';
    part.done = true;
    part.succeeded = 0;
    part.failed = 0;
  }
  await store.save();
}

interface Schedule {
  next: number;
  polls: number;
  errors: number;
  /** Polls that saw a completed batch without its result file ids (some servers set them a moment later). */
  missingFiles: number;
}

/** Poll every unfinished part until all are done (or signal/timeout), finishing each as it ends. */
async function waitForParts(ctx: JobContext, timeoutMs?: number): Promise<void> {
  const { store, signal } = ctx;
  const started = Date.now();
  const schedules = new Map<string, Schedule>();
  const initialMs = Math.min(1_000, ctx.opts.pollIntervalMs);
  let lastProgress = '';
  const reportProgress = () => {
    const parts = partProgress(store.manifest);
    const key = JSON.stringify(parts);
    if (key === lastProgress) return;
    lastProgress = key;
    const summary = summarizeJob(store.jobDir, store.manifest);
    ctx.emit({
      type: 'progress',
      jobId: store.manifest.jobId,
      elapsedMs: Date.now() - started,
      total: summary.requests,
      completed: summary.succeeded,
      failed: summary.failed,
      parts,
    });
  };
  for (;;) {
    const active = store.manifest.parts.filter((p) => !p.done);
    if (active.length === 0) break;
    const unsubmitted = active.filter((p) => !p.batchId);
    if (unsubmitted.length > 0) {
      if (store.manifest.cancelledAt) await settleCancelled(ctx);
      else await settleAll(unsubmitted.map((p) => ctx.limit(() => submitPart(ctx, p))));
    }
    const now = Date.now();
    const due = active.filter((p) => p.batchId && (schedules.get(p.index)?.next ?? 0) <= now);
    await settleAll(due.map((p) => ctx.limit(() => pollPart(ctx, p, schedules, initialMs))));
    reportProgress();
    if (store.manifest.parts.every((p) => p.done)) break;
    if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) {
      throw new KbatchError(
        'AWAIT_TIMEOUT',
        `Batches still running after ${Math.round(timeoutMs / 1000)}s; continue with: kbatch resume ${store.jobDir}`,
      );
    }
    const waiting = store.manifest.parts.filter((p) => !p.done && p.batchId);
    if (waiting.length === 0) continue;
    let nextAt = Math.min(...waiting.map((p) => schedules.get(p.index)?.next ?? 0));
    if (timeoutMs !== undefined) nextAt = Math.min(nextAt, started + timeoutMs);
    await sleep(Math.max(0, nextAt - Date.now()), signal);
  }
  reportProgress();
}

async function pollPart(ctx: JobContext, part: JobPart, schedules: Map<string, Schedule>, initialMs: number): Promise<void> {
  const schedule = schedules.get(part.index) ?? { next: 0, polls: 0, errors: 0, missingFiles: 0 };
  schedules.set(part.index, schedule);
  let batch;
  try {
    batch = await retrieveBatch(ctx.client.batches, part.batchId!, ctx.signal ? { signal: ctx.signal } : {});
  } catch (error) {
    if (isAbortError(error) || ctx.signal?.aborted || !isTransientError(error)) throw error;
    const delayMs = Math.min(120_000, retryAfterMs(error) ?? backoffDelay(schedule.errors, { baseMs: ctx.opts.retryBaseMs, maxMs: Math.max(ctx.opts.pollIntervalMs, 1_000) * 4 }));
    schedule.errors++;
    schedule.next = Date.now() + delayMs;
    ctx.emit({ type: 'retry', operation: 'poll', part: part.index, attempt: schedule.errors, delayMs, message: messageOf(error) });
    return;
  }
  schedule.errors = 0;
  if (applyBatch(part, batch)) await ctx.store.save();
  crashPoint('during-wait');
  const c = batch.request_counts;
  // Any terminal batch (expired and cancelled too) may name its files a moment after its status changes.
  const filesMissing = (c.completed > 0 && !batch.output_file_id) || (c.failed > 0 && !batch.error_file_id);
  if (isTerminalStatus(batch.status) && (!filesMissing || schedule.missingFiles >= 5)) {
    if (filesMissing) ctx.emit({ type: 'warning', part: part.index, message: `batch ${batch.id} is ${batch.status} but names no result file` });
    await finishPart(ctx, part, batch);
    return;
  }
  if (filesMissing) schedule.missingFiles++;
  schedule.polls++;
  schedule.next = Date.now() + backoffDelay(schedule.polls, { baseMs: initialMs / 2, maxMs: ctx.opts.pollIntervalMs });
}
