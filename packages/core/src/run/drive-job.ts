// The run's call into the batch job, bounded by the run's deadline.
import { isKbatchError } from '../errors.js';
import { resumeJob, type JobOptions } from '../job/batch-job.js';
import type { RunDeadline } from './run-deadline.js';

/** Drive the run's batch job (submit, wait, download) with what is left of the run's time; AWAIT_TIMEOUT when it runs out. */
export async function driveJob(jobDir: string, jobOptions: JobOptions, deadline: RunDeadline): Promise<void> {
  const left = deadline.remaining();
  if (left <= 0) throw deadline.expired('batches');
  try {
    await resumeJob(jobDir, left === Infinity ? jobOptions : { ...jobOptions, timeoutMs: Math.max(1, Math.ceil(left)) });
  } catch (err) {
    if (isKbatchError(err) && err.code === 'AWAIT_TIMEOUT' && deadline.timeoutMs !== undefined) throw deadline.expired('batches', err);
    throw err;
  }
}
