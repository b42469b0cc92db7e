// kbatch cancels a batch whose last few requests stalled; the run finishes them realtime (run/straggler-round.ts).
import { isAbortError, messageOf } from '../client/retry.js';
import type { KBatch } from '../client/schemas.js';
import type { JobContext } from './context.js';
import type { JobPart } from '../state/manifest.js';
import { crashPoint } from './crash-point.js';
import { withRequestSignal } from '../internal/request-signal.js';

/**
 * Mark the part as a straggler batch (saved atomically BEFORE the cancel, so a crash at any point leaves a part
 * that a resume cancels again and never resubmits), tell the caller, then ask the server to cancel it.
 */
export async function cancelForStragglers(ctx: JobContext, part: JobPart, batch: KBatch, idleMs: number): Promise<void> {
  const c = batch.request_counts;
  const remaining = c.total - c.completed - c.failed;
  part.straggler = { at: new Date().toISOString(), remaining, total: c.total, idleMs };
  await ctx.store.save();
  crashPoint('after-straggler-mark');
  ctx.emit({
    type: 'stragglers',
    part: part.index,
    batchId: batch.id,
    remaining,
    total: c.total,
    idleMs,
    message: `batch ${batch.id}: ${remaining} straggler${remaining === 1 ? '' : 's'} of ${c.total} left after ${Math.round(idleMs / 1000)} s without progress; cancelling it and finishing them realtime`,
  });
  await sendStragglerCancel(ctx, part);
}

/**
 * Send the cancel of a part marked as a straggler batch that is still running (again after a crash; a repeated
 * cancel is harmless). A failure is a warning: the next poll tries again while the batch still runs.
 */
export async function sendStragglerCancel(ctx: JobContext, part: JobPart): Promise<void> {
  try {
    const batch = await withRequestSignal(ctx.signal, (signal) => ctx.client.batches.cancel(part.batchId!, signal ? { signal } : {}));
    crashPoint('after-straggler-cancel');
    part.cancelRequested = true;
    if (batch && typeof batch === 'object' && 'status' in batch) part.status = String(batch.status);
    await ctx.store.save();
  } catch (error) {
    if (isAbortError(error) || ctx.signal?.aborted) throw error;
    ctx.emit({ type: 'warning', part: part.index, message: `cancelling straggler batch ${part.batchId} failed: ${messageOf(error)}` });
  }
}
