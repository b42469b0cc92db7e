// An emulator batch as Anthropic's MessageBatch object (processing_status, request_counts, RFC 3339 times, results_url).
import type { BatchObject, Stored } from '../store.js';
import { anthropicId, type InlineBatch } from './batch-store.js';

const iso = (seconds: number | null): string | null => (seconds === null ? null : new Date(seconds * 1000).toISOString());

/** True once the batch has ended (Anthropic: `ended`; results available). */
export const hasEnded = (b: BatchObject): boolean => ['completed', 'failed', 'expired', 'cancelled'].includes(b.status);

/**
 * Request counts as Anthropic reports them: every request `processing` until the batch ends, then succeeded /
 * errored / canceled / expired (requests that never ran count as expired or canceled by how the batch ended).
 */
export function requestCounts(b: BatchObject, inline: InlineBatch) {
  const n = inline.requests;
  if (!hasEnded(b)) return { processing: n, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  const succeeded = b.status === 'failed' ? 0 : b.request_counts.completed;
  const errored = b.status === 'failed' ? n : b.request_counts.failed + inline.errored.length;
  const unrun = Math.max(0, n - succeeded - errored);
  return { processing: 0, succeeded, errored: b.status === 'completed' ? errored + unrun : errored, canceled: b.status === 'cancelled' ? unrun : 0, expired: b.status === 'expired' ? unrun : 0 };
}

/** The MessageBatch object; `origin` makes results_url absolute (the SDK fetches it as given). */
export function batchView(rec: Stored<BatchObject>, inline: InlineBatch, origin: string) {
  const b = rec.value;
  const id = anthropicId(b.id);
  const ended = hasEnded(b);
  return {
    id,
    type: 'message_batch',
    processing_status: ended ? 'ended' : b.status === 'cancelling' ? 'canceling' : 'in_progress',
    request_counts: requestCounts(b, inline),
    ended_at: ended ? iso(b.completed_at ?? b.expired_at ?? b.cancelled_at ?? b.failed_at) : null,
    created_at: new Date(rec.createdMs).toISOString(),
    expires_at: iso(b.expires_at),
    archived_at: null,
    cancel_initiated_at: iso(b.cancelling_at),
    results_url: ended ? `${origin}/v1/messages/batches/${id}/results` : null,
  };
}
