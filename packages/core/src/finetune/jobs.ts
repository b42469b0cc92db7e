import type OpenAI from 'openai';
import { z } from 'zod';
import { parseOptions, positiveIntField, signalField } from '../options.js';
import { parseFineTuneJob, type FineTuneJob } from './job-schema.js';
import { withRequestSignal } from '../internal/request-signal.js';

type Jobs = OpenAI['fineTuning']['jobs'];

/** The capability a job helper needs: just the `fineTuning.jobs` methods it calls. */
export interface FineTuneJobsClient<M extends keyof Jobs> {
  fineTuning: { jobs: Pick<Jobs, M> };
}

/**
 * Fetch one fine-tuning job.
 * @param client - anything with `fineTuning.jobs.retrieve` (an openai client)
 * @param jobId - the job id
 * @example const job = await getFineTuneJob(client, 'ftjob-123'); job.status
 */
export async function getFineTuneJob(
  client: FineTuneJobsClient<'retrieve'>,
  jobId: string,
  options: { signal?: AbortSignal } = {},
): Promise<FineTuneJob> {
  return parseFineTuneJob(await withRequestSignal(options.signal, (signal) => client.fineTuning.jobs.retrieve(jobId, requestOptions(signal))));
}

/**
 * Ask the server to cancel a job; returns the job as the server reports it (often `cancelling` first).
 * @param client - anything with `fineTuning.jobs.cancel`
 * @param jobId - the job id
 */
export async function cancelFineTuneJob(
  client: FineTuneJobsClient<'cancel'>,
  jobId: string,
  options: { signal?: AbortSignal } = {},
): Promise<FineTuneJob> {
  return parseFineTuneJob(await withRequestSignal(options.signal, (signal) => client.fineTuning.jobs.cancel(jobId, requestOptions(signal))));
}

/** Options of {@link listFineTuneJobs}. */
export const ListFineTuneJobsOptionsSchema = z.object({
  /** Jobs per request (1–100, the server's limit). */
  pageSize: z.number({ error: 'must be an integer from 1 to 100' }).int('must be an integer from 1 to 100').min(1, 'must be an integer from 1 to 100').max(100, 'must be an integer from 1 to 100').default(20),
  /** Stop after this many jobs (default: all). */
  limit: positiveIntField().optional(),
  /** Start after this job id (a cursor from a previous listing). */
  after: z.string().min(1, 'must be a job id').optional(),
  signal: signalField().optional(),
});
export type ListFineTuneJobsOptions = z.input<typeof ListFineTuneJobsOptionsSchema>;

/**
 * All fine-tuning jobs, newest first, one page at a time (`after` = last id of the page, until `has_more` is false).
 * Only the current page is held in memory.
 * @param client - anything with `fineTuning.jobs.list`
 * @example for await (const job of listFineTuneJobs(client)) console.log(job.id, job.status);
 */
export async function* listFineTuneJobs(
  client: FineTuneJobsClient<'list'>,
  options: ListFineTuneJobsOptions = {},
): AsyncGenerator<FineTuneJob> {
  const opts = parseOptions(ListFineTuneJobsOptionsSchema, options, 'listFineTuneJobs');
  let after = opts.after;
  let yielded = 0;
  for (;;) {
    const page = await withRequestSignal(opts.signal, (signal) =>
      client.fineTuning.jobs.list({ limit: opts.pageSize, ...(after === undefined ? {} : { after }) }, requestOptions(signal)),
    );
    const data = (page as unknown as { data?: unknown[] }).data ?? [];
    for (const raw of data) {
      const job = parseFineTuneJob(raw);
      yield job;
      after = job.id;
      if (opts.limit !== undefined && ++yielded >= opts.limit) return;
    }
    const hasMore = (page as unknown as { has_more?: unknown }).has_more === true;
    if (!hasMore || data.length === 0) return;
  }
}

function requestOptions(signal: AbortSignal | undefined): { signal?: AbortSignal } | undefined {
  return signal === undefined ? undefined : { signal };
}
