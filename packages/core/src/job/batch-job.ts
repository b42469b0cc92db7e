import { z } from 'zod';
import pLimit from 'p-limit';
import { KbatchError } from '../errors.js';
import { functionField, parseOptions, positiveIntField, positiveMsField, signalField } from '../options.js';
import { isAbortError } from '../client/retry.js';
import { createJob } from './create-job.js';
import { ManifestStore } from '../state/manifest.js';
import { directoryStore, type JobStore } from '../state/job-store.js';
import { removeStaleJobTemps } from '../internal/stale-temps.js';
import type { JobContext } from './context.js';
import type { JobClient, JobEvent, JobSummary } from './job-types.js';
import type { ResultJudge } from './part-verdict.js';
import { StragglerRuleSchema } from './straggler-rule.js';
import { summarizeJob } from './summary.js';
import { repairParts } from './repair-parts.js';
import { deleteFinishedFiles, deleteOrphanUploads } from './delete-files.js';
import { submitParts, waitForParts } from './wait-for-parts.js';
import { DEFAULT_RESULT_FILE_GRACE_MS } from './result-files-grace.js';
import { cancelInFlightCreates, cancelParts, cancelRequested, settleCancelled } from './cancel-parts.js';
import { checkRecordedProvider, ProviderNameSchema } from '../providers/resolve-provider.js';
import { jobProvider, namedProvider } from '../providers/job-provider.js';
import { OutputExpiresAfterSchema } from '../batch/create-batch.js';
import { openJobQuota } from '../quota/open-job-quota.js';

/** The completion windows kluster accepts. */
export const COMPLETION_WINDOWS = ['1h', '3h', '6h', '12h', '24h'] as const;

/** Options shared by {@link runBatchJob} and {@link resumeJob}. */
export const JobOptionsSchema = z.object({
  client: z.custom<JobClient>((v) => typeof v === 'object' && v !== null && 'batches' in v && 'files' in v, {
    error: 'must be an openai client (see createKlusterClient)',
  }),
  // A string (not z.enum): which windows are allowed depends on the provider, checked by checkWindow.
  window: z.string({ error: `must be one of ${COMPLETION_WINDOWS.join(', ')}` }).default('24h'),
  /**
   * Keep each batch's output files this long after they are written (OpenAI's `output_expires_after`): seconds or a
   * duration such as `12h` or `30d`, within the provider's range (OpenAI: 1 hour to 30 days); refused on a provider that
   * does not offer it. Recorded in the manifest with a new job, so a resume's creates send the same (a resume's own
   * value is not used).
   */
  outputExpiresAfter: OutputExpiresAfterSchema.optional(),
  /** The provider's profile sets the allowed windows; recorded in the manifest (default: the client's, else kluster). */
  provider: ProviderNameSchema.optional(),
  concurrency: positiveIntField().default(4),
  pollIntervalMs: positiveMsField().default(15_000),
  timeoutMs: positiveMsField().optional(),
  /**
   * How long an ended batch may name its error file without its output file when the provider sends no request counts
   * (Together) and the error lines do not answer every request: kbatch polls on meanwhile, then stops with
   * BATCH_OUTPUT_MISSING (nothing is sent again; a resume waits anew). Default 10 minutes.
   */
  resultFileGraceMs: positiveMsField().default(DEFAULT_RESULT_FILE_GRACE_MS),
  /**
   * Finish an ended batch that names its error file but no output file (Together: an expired, cancelled or failed
   * batch may never name one) at once, instead of waiting `resultFileGraceMs` and stopping with BATCH_OUTPUT_MISSING:
   * the requests its error file does not answer are read as never run (an expired batch's are resubmitted, a cancelled
   * batch's left to the retry rounds, a failed batch's marked `result_missing`). This pays twice for any answer the
   * provider did produce: first check the batch's `output_file_id` at the provider. Not recorded: give it to the call
   * that should use it. Default false.
   */
  acceptMissingOutput: z.boolean({ error: 'must be a boolean' }).default(false),
  wait: z.boolean({ error: 'must be a boolean' }).default(true),
  noResubmit: z.boolean({ error: 'must be a boolean' }).default(false),
  /**
   * How many times the never-run requests of an expired batch are resubmitted as a new batch (default 3). Requests
   * still unrun after that get a `BATCH_EXPIRED` error line ("expired N times; not resubmitted after M
   * resubmissions") and a warning event names the part.
   */
  maxResubmits: z.int({ error: 'must be a non-negative integer' }).min(0, { error: 'must be a non-negative integer' }).default(3),
  /**
   * Keep each part's uploaded input file on the server. By default it is deleted once the part's batch is terminal
   * and its results are downloaded (recorded as `fileDeletedAt`). Files orphaned by a crash during an upload are
   * deleted on resume either way: no batch can use them.
   */
  keepFiles: z.boolean({ error: 'must be a boolean' }).default(false),
  cancelOnInterrupt: z.boolean({ error: 'must be a boolean' }).default(false),
  retryBaseMs: positiveMsField().default(500),
  uploadAttempts: positiveIntField().default(8),
  downloadAttempts: positiveIntField().default(4),
  /**
   * Cancel an in_progress batch whose last few requests stalled (see {@link StragglerRuleSchema}); the part is
   * marked `straggler` first and never resubmitted, and its requests without a result are left to the caller
   * (runJob's `finishRealtime` sends them realtime). Off when absent.
   */
  stragglers: StragglerRuleSchema.optional(),
  /** Judge each result line as it is downloaded, so a done part records what a retry round would resend (runJob sets it). */
  judge: functionField<ResultJudge>().optional(),
  signal: signalField().optional(),
  /**
   * Most estimated prompt tokens the API key may have enqueued per model over every batch not yet ended, shared by
   * every job and process whose state is in the same database (a part's batch is created only when it fits; waiting
   * parts go in order; one larger than the whole limit goes alone). Kept in the database per key, so it applies to
   * every job on the key; the latest given wins. Default: the one kept, else the provider's documented figure (Together:
   * 30B), else none. Needs a database store (the quota is counted there): without one it is OPTION_INVALID. An
   * estimate (characters / 4 + 4 per message, the part's `promptTokens`): leave a margin below the real limit.
   */
  maxEnqueuedTokens: positiveIntField().optional(),
  /** Where the job's state lives (default: the job directory; see openJobStore for Postgres). */
  store: z.custom<JobStore>((v) => typeof v === 'object' && v !== null && typeof (v as JobStore).readManifest === 'function', { error: 'must be a JobStore' }).optional(),
  onProgress: functionField<(event: JobEvent) => void>().optional(),
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
  const { record } = jobProvider(opts, { batches: true });
  if (!opts.chunks) {
    if (!opts.jobDir) throw new KbatchError('OPTION_INVALID', 'Invalid options for runBatchJob: must give `chunks` or `jobDir`');
    return drive(opts.jobDir, opts, true);
  }
  const { jobDir } = await createJob({
    chunks: opts.chunks,
    window: opts.window,
    outputExpiresAfter: opts.outputExpiresAfter,
    ...record,
    ...(opts.jobDir ? { jobDir: opts.jobDir } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.store ? { store: opts.store } : {}),
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
  jobProvider(opts, { batches: true });
  return drive(jobDir, opts, true);
}

async function drive(jobDir: string, opts: z.output<typeof JobOptionsSchema>, resumed: boolean): Promise<JobSummary> {
  const jobStore = opts.store ?? directoryStore(jobDir);
  const lock = await jobStore.lock();
  try {
    const store = await ManifestStore.open(jobStore);
    checkRecordedProvider(store.manifest.provider, namedProvider(opts), jobDir);
    // A resumed job's temp files whose writer was killed (the manifest opened: this is a job directory).
    if (resumed) await removeStaleJobTemps(jobDir);
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
        resultFileGraceMs: opts.resultFileGraceMs,
        acceptMissingOutput: opts.acceptMissingOutput,
        retryBaseMs: opts.retryBaseMs,
        noResubmit: opts.noResubmit,
        maxResubmits: opts.maxResubmits,
        keepFiles: opts.keepFiles,
        downloadAttempts: opts.downloadAttempts,
        uploadAttempts: opts.uploadAttempts,
        ...(opts.stragglers ? { stragglers: opts.stragglers } : {}),
        ...(opts.judge ? { judge: opts.judge } : {}),
      },
    };
    const { manifest } = store;
    const quota = await openJobQuota({ store: jobStore, client: opts.client, manifest, maxEnqueuedTokens: opts.maxEnqueuedTokens, pollIntervalMs: opts.pollIntervalMs });
    if (quota) ctx.quota = quota;
    emit({
      type: 'job',
      jobId: manifest.jobId,
      jobDir,
      parts: manifest.parts.length,
      requests: manifest.parts.filter((p) => p.kind === 'chunk').reduce((n, p) => n + p.requests, 0),
      resumed,
    });
    // `timeoutMs` bounds uploads and creates as well as the wait.
    const started = Date.now();
    try {
      await repairParts(ctx);
      await deleteOrphanUploads(ctx);
      if (await cancelRequested(ctx)) await settleCancelled(ctx);
      else await submitParts(ctx, manifest.parts.filter((p) => !p.batchId && !p.done), opts.timeoutMs, started);
      if (opts.wait) await waitForParts(ctx, opts.timeoutMs, started);
      // Also the files of parts finished before a crash mid-cleanup, or settled by a cancel.
      await deleteFinishedFiles(ctx);
      // Uploads are over (submitParts settles them all), so an unrecorded file of this job is an orphan.
      await deleteOrphanUploads(ctx);
    } catch (error) {
      if (isAbortError(error) || opts.signal?.aborted) await onInterrupt(ctx, opts.cancelOnInterrupt);
      throw error;
    } finally {
      // Best effort: a slot left behind by a failed close stops counting once this process is gone (see mayBeEnqueued).
      await quota?.close(manifest.parts).catch(() => undefined);
    }
    return summarizeJob(jobDir, manifest);
  } finally {
    await lock.release();
  }
}

async function onInterrupt(ctx: JobContext, cancel: boolean): Promise<never> {
  const { store } = ctx;
  if (cancel) {
    store.manifest.cancelledAt = new Date().toISOString();
    await store.save();
    await cancelParts(ctx, store.manifest.parts);
    // A create that was in flight may have made a batch we never heard of: find it with a fresh, short signal.
    await cancelInFlightCreates(ctx, AbortSignal.timeout(30_000));
  }
  throw new KbatchError(
    'ABORTED',
    cancel
      ? `Interrupted; the job's batches were cancelled. Collect what finished with: kbatch resume ${store.jobDir}`
      : `Interrupted; the job is saved. Continue it with: kbatch resume ${store.jobDir}`,
  );
}
