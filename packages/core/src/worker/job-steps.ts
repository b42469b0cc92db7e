// The step queue as the commands that only look at it or add to it use it (status, wait, a detached run).
import type { Pool } from 'pg';
import { openStepQueue, openStepReader, type StepStatus } from './step-queue.js';

/**
 * Queue the next step of a job in the database, for `kbatch worker`s to take (at most one is queued per job).
 * @returns false when one was queued already
 * @example await enqueueJob({ databaseUrl: process.env.KBATCH_DATABASE_URL!, jobId: 'reviews-2026-12-05' });
 */
export async function enqueueJob({ databaseUrl, jobId, delayMs = 0 }: { databaseUrl: string; jobId: string; delayMs?: number }): Promise<boolean> {
  const queue = await openStepQueue({ databaseUrl });
  try {
    return await queue.enqueue(jobId, delayMs);
  } finally {
    await queue.close();
  }
}

/**
 * A job's latest step (queued, retrying with its last error, active, completed, failed), or null when workers were
 * never asked to run it.
 * @example const step = await jobStep({ databaseUrl, jobId }); if (step?.state === 'failed') console.log(step.output?.message);
 */
export async function jobStep({ databaseUrl, jobId, pool }: { databaseUrl: string; jobId: string; pool?: Pool }): Promise<StepStatus | null> {
  // On the caller's pool when given (a job store's): no connection of its own.
  const reader = await openStepReader(databaseUrl, pool ? { pool } : {});
  try {
    return await reader.latest(jobId);
  } finally {
    await reader.close();
  }
}
