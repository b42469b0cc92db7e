import { z } from 'zod';
import { isTransientError } from '../client/retry.js';
import { sleep } from '../client/retry.js';
import { KbatchError } from '../errors.js';
import { functionField, parseOptions, positiveMsField, signalField } from '../options.js';
import { FINE_TUNE_TERMINAL_STATUSES, type FineTuneJob } from './job-schema.js';
import { getFineTuneJob, type FineTuneJobsClient } from './jobs.js';

/** Options of {@link waitForFineTuneJob}. */
export const WaitForFineTuneJobOptionsSchema = z.object({
  client: z.custom<FineTuneJobsClient<'retrieve'>>((v) => typeof (v as FineTuneJobsClient<'retrieve'>)?.fineTuning?.jobs?.retrieve === 'function', {
    error: 'must be an openai client (fineTuning.jobs.retrieve)',
  }),
  jobId: z.string({ error: 'must be a job id' }).min(1, 'must be a job id'),
  /** First delay between polls; grows ×1.5 while the status stays the same, back to this on a change. */
  pollIntervalMs: positiveMsField().default(5_000),
  /** Longest delay between polls. */
  maxPollIntervalMs: positiveMsField().default(60_000),
  /** Give up with AWAIT_TIMEOUT after this long (default: wait as long as it takes). */
  timeoutMs: positiveMsField().optional(),
  /** Polling errors in a row (after the SDK's own retries) tolerated before giving up. */
  maxConsecutiveErrors: z.number({ error: 'must be a non-negative integer' }).int('must be a non-negative integer').min(0, 'must be a non-negative integer').default(5),
  /** Called with the job whenever its status changes (and once at the start). */
  onStatus: functionField<(job: FineTuneJob) => void>().optional(),
  signal: signalField().optional(),
});
export type WaitForFineTuneJobOptions = z.input<typeof WaitForFineTuneJobOptionsSchema>;

/**
 * Poll a fine-tuning job until it ends. Resolves with the job when it `succeeded` (its `fine_tuned_model`
 * is the model to use); throws FINETUNE_FAILED when it failed (with the server's error), FINETUNE_CANCELLED when it was cancelled,
 * AWAIT_TIMEOUT after `timeoutMs`, ABORTED when `signal` aborts.
 * @param options - see {@link WaitForFineTuneJobOptions}
 * @example
 * const job = await waitForFineTuneJob({ client, jobId, onStatus: (j) => console.error(j.status) });
 * console.log(job.fine_tuned_model);
 */
export async function waitForFineTuneJob(options: WaitForFineTuneJobOptions): Promise<FineTuneJob> {
  const opts = parseOptions(WaitForFineTuneJobOptionsSchema, options, 'waitForFineTuneJob');
  const { client, jobId, signal } = opts;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let delay = opts.pollIntervalMs;
  let lastStatus: string | undefined;
  let errors = 0;
  for (;;) {
    throwIfAborted(signal, jobId);
    let job: FineTuneJob | undefined;
    try {
      job = await getFineTuneJob(client, jobId, signal ? { signal } : {});
      errors = 0;
    } catch (err) {
      if (signal?.aborted) throwIfAborted(signal, jobId);
      if (!isTransientError(err) || ++errors > opts.maxConsecutiveErrors) throw err;
    }
    if (job) {
      if (job.status !== lastStatus) {
        lastStatus = job.status;
        delay = opts.pollIntervalMs;
        opts.onStatus?.(job);
      } else {
        delay = Math.min(opts.maxPollIntervalMs, Math.round(delay * 1.5));
      }
      if (FINE_TUNE_TERMINAL_STATUSES.includes(job.status)) return finished(job);
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new KbatchError('AWAIT_TIMEOUT', `fine-tuning job ${jobId} is still ${lastStatus ?? 'unknown'} after ${opts.timeoutMs} ms`);
    }
    // The shared sleep rejects with a generic ABORTED; name the job instead.
    await sleep(Math.min(delay, left), signal).catch((err: unknown) => {
      throwIfAborted(signal, jobId);
      throw err;
    });
  }
}

function finished(job: FineTuneJob): FineTuneJob {
  if (job.status === 'succeeded') {
    if (!job.fine_tuned_model) {
      throw new KbatchError('RESPONSE_INVALID', `fine-tuning job ${job.id} succeeded without a fine_tuned_model`);
    }
    return job;
  }
  if (job.status === 'cancelled') throw new KbatchError('FINETUNE_CANCELLED', `fine-tuning job ${job.id} was cancelled`);
  const detail = job.error ? [job.error.code, job.error.message].filter(Boolean).join(': ') : 'the server gave no reason';
  throw new KbatchError('FINETUNE_FAILED', `fine-tuning job ${job.id} failed: ${detail}`, { cause: job.error ?? undefined });
}

function throwIfAborted(signal: AbortSignal | undefined, jobId: string): void {
  if (signal?.aborted) {
    throw new KbatchError('ABORTED', `waiting for fine-tuning job ${jobId} was aborted`, { cause: signal.reason });
  }
}
