import { isTerminalStatus } from '../client/schemas.js';
import { retrieveBatch } from '../batch/create-batch.js';
import { isKbatchError } from '../errors.js';
import type { JobLock } from '../state/lock.js';
import { directoryStore, type JobStore } from '../state/job-store.js';
import { ManifestStore } from '../state/manifest.js';
import { applyBatch } from './apply-batch.js';
import { cancelParts } from './cancel-parts.js';
import { summarizeJob } from './summary.js';
import type { JobClient, JobSummary } from './job-types.js';

/**
 * A job's summary; with a client, unfinished parts are refreshed from the server first (read-only: the
 * manifest is not changed, the process driving the job does that).
 * @param jobDir - the job directory
 */
export async function jobStatus(
  jobDir: string,
  options: { client?: Pick<JobClient, 'batches'>; signal?: AbortSignal; store?: JobStore } = {},
): Promise<JobSummary> {
  const manifest = await (options.store ?? directoryStore(jobDir)).readManifest();
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
 * While another process drives the job, a cancel marker is written first (that process sees it before its next
 * create or resubmit, records it and cancels what it runs), then the batches known so far are asked to cancel.
 * @returns how many batches were asked to cancel
 */
export async function cancelJob(jobDir: string, options: { client: Pick<JobClient, 'batches'>; store?: JobStore }): Promise<number> {
  const jobStore = options.store ?? directoryStore(jobDir);
  let lock: JobLock | undefined;
  try {
    lock = await jobStore.lock();
  } catch (err) {
    if (!isKbatchError(err) || err.code !== 'JOB_LOCKED') throw err;
  }
  try {
    const store = await ManifestStore.open(jobStore);
    const client = options.client as JobClient;
    if (lock) {
      store.manifest.cancelledAt = new Date().toISOString();
      return await cancelParts({ store, client, emit: () => {} }, store.manifest.parts);
    }
    // Someone else owns the manifest: leave the marker for it, then send the cancels only.
    await jobStore.requestCancel();
    let n = 0;
    for (const part of store.manifest.parts) {
      if (!part.batchId || part.done || (part.status && isTerminalStatus(part.status))) continue;
      try {
        await client.batches.cancel(part.batchId);
        n++;
      } catch {
        // The driving process cancels it again once it sees the marker.
      }
    }
    return n;
  } finally {
    await lock?.release();
  }
}
