import { isTerminalStatus } from '../client/schemas.js';
import { retrieveBatch } from '../batch/create-batch.js';
import { KbatchError, isKbatchError } from '../errors.js';
import { acquireJobLock, type JobLock } from './lock.js';
import { loadManifest, ManifestStore } from './manifest.js';
import { applyBatch } from './finish-part.js';
import { cancelParts } from './run-job.js';
import { summarizeJob } from './summary.js';
import type { JobClient, JobSummary } from './types.js';

/**
 * A job's summary; with a client, unfinished parts are refreshed from the server first (read-only: the
 * manifest is not changed, the process driving the job does that).
 * @param jobDir - the job directory
 */
export async function jobStatus(
  jobDir: string,
  options: { client?: Pick<JobClient, 'batches'>; signal?: AbortSignal } = {},
): Promise<JobSummary> {
  const manifest = await loadManifest(jobDir);
  if (options.client) {
    for (const part of manifest.parts) {
      if (!part.batchId || part.done) continue;
      const batch = await retrieveBatch(options.client.batches, part.batchId, options.signal ? { signal: options.signal } : {});
      applyBatch(part, batch);
    }
  }
  return summarizeJob(jobDir, manifest);
}

/**
 * Cancel a job: every unfinished batch is asked to cancel and nothing new will be submitted. Finished
 * results stay; `resumeJob` later collects the partial output of the cancelled batches.
 * Works while another process waits on the job (then only the remote cancel is sent; that process records it).
 * @returns how many batches were asked to cancel
 */
export async function cancelJob(jobDir: string, options: { client: Pick<JobClient, 'batches'> }): Promise<number> {
  let lock: JobLock | undefined;
  try {
    lock = await acquireJobLock(jobDir);
  } catch (err) {
    if (!isKbatchError(err) || err.code !== 'JOB_LOCKED') throw err;
  }
  try {
    const store = await ManifestStore.open(jobDir);
    if (lock) store.manifest.cancelledAt = new Date().toISOString();
    const client = options.client as JobClient;
    if (!lock) {
      // Someone else owns the manifest: send the cancels only.
      let n = 0;
      for (const part of store.manifest.parts) {
        if (!part.batchId || part.done || (part.status && isTerminalStatus(part.status))) continue;
        await client.batches.cancel(part.batchId);
        n++;
      }
      return n;
    }
    const n = await cancelParts({ store, client, emit: () => {} }, store.manifest.parts);
    return n;
  } finally {
    await lock?.release();
  }
}

/** Refuse to run on a directory that is not a job. */
export async function assertJob(jobDir: string): Promise<void> {
  try {
    await loadManifest(jobDir);
  } catch (err) {
    if (isKbatchError(err)) throw err;
    throw new KbatchError('JOB_NOT_FOUND', `No kbatch job in ${jobDir}`, { file: jobDir, cause: err });
  }
}
