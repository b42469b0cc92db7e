import { rootOf, type JobManifest } from '../state/manifest.js';
import type { JobSummary, PartProgress } from './job-types.js';

/** The code that names a finished batch's unsuccessful outcome in summaries. */
const OUTCOME_CODES = { failed: 'BATCH_FAILED', expired: 'BATCH_EXPIRED', cancelled: 'BATCH_CANCELLED' } as const;

/**
 * A job's counts and state from its manifest alone (no network).
 * Original chunk requests are the total; resubmitted parts fill in the results their expired parents lacked.
 */
export function summarizeJob(jobDir: string, manifest: JobManifest): JobSummary {
  let requests = 0;
  let succeeded = 0;
  let failed = 0;
  const lineErrors: JobSummary['lineErrors'] = [];
  const parts: JobSummary['parts'] = [];
  for (const p of manifest.parts) {
    if (p.kind === 'chunk') requests += p.requests;
    const counts = p.requestCounts ?? { total: p.requests, completed: 0, failed: 0 };
    const pSucceeded = p.done ? (p.succeeded ?? counts.completed) : counts.completed;
    let pFailed = p.done ? (p.failed ?? counts.failed) : counts.failed;
    // A retry part (and the resubmits that finish it) re-runs requests already counted as failed: its
    // successes turn failures into successes, and its failures are not new ones.
    if (rootOf(manifest, p).kind === 'retry') {
      failed -= Math.min(pSucceeded, failed);
      pFailed = 0;
    }
    succeeded += pSucceeded;
    failed += pFailed;
    for (const e of p.lineErrors ?? []) if (lineErrors.length < 100) lineErrors.push({ ...e, part: p.index });
    parts.push({
      index: p.index,
      kind: p.kind,
      requests: p.requests,
      done: p.done,
      status: p.status ?? (p.fileId ? 'uploaded' : 'pending'),
      total: counts.total || p.requests,
      completed: counts.completed,
      failed: counts.failed,
      lineErrors: p.lineErrors?.length ?? 0,
      ...(p.done && p.status !== undefined && p.status in OUTCOME_CODES ? { code: OUTCOME_CODES[p.status as keyof typeof OUTCOME_CODES] } : {}),
      ...(p.batchId ? { batchId: p.batchId } : {}),
      ...(p.resubmittedAs ? { resubmittedAs: p.resubmittedAs } : {}),
      ...(p.straggler ? { straggler: true } : {}),
    });
  }
  const pending = Math.max(0, requests - succeeded - failed);
  const allDone = manifest.parts.every((p) => p.done);
  let state: JobSummary['state'];
  if (!allDone) state = 'running';
  else if (succeeded === requests) state = 'completed';
  else if (manifest.cancelledAt) state = 'cancelled';
  else if (succeeded === 0) state = 'failed';
  else state = 'partial';
  return { jobId: manifest.jobId, jobDir, state, requests, succeeded, failed, pending, parts, lineErrors };
}

/** Live progress of the unfinished and finished parts, for events. */
export function partProgress(manifest: JobManifest): PartProgress[] {
  return manifest.parts.map((p) => ({
    index: p.index,
    status: p.status ?? 'pending',
    total: p.requestCounts?.total || p.requests,
    completed: p.requestCounts?.completed ?? 0,
    failed: p.requestCounts?.failed ?? 0,
    ...(p.batchId ? { batchId: p.batchId } : {}),
  }));
}
