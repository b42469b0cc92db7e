import { isTerminalStatus } from '../client/schemas.js';
import { messageOf } from '../client/retry.js';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { isKbatchError } from '../errors.js';
import type { KBatch } from '../client/schemas.js';
import { adoptBatch, JobBatchScan } from './batch-scan.js';

/** Ask the server to cancel every unfinished batch of these parts (never throws for one batch). */
export async function cancelParts(ctx: Pick<JobContext, 'store' | 'client' | 'emit'>, parts: JobPart[]): Promise<number> {
  let cancelled = 0;
  for (const part of parts) {
    if (!part.batchId || part.done || (part.status && isTerminalStatus(part.status))) continue;
    try {
      const batch = await ctx.client.batches.cancel(part.batchId);
      part.cancelRequested = true;
      if (batch && typeof batch === 'object' && 'status' in batch) part.status = String(batch.status);
      cancelled++;
    } catch (error) {
      ctx.emit({ type: 'warning', part: part.index, message: `cancelling ${part.batchId} failed: ${messageOf(error)}` });
    }
  }
  await ctx.store.save();
  return cancelled;
}

/**
 * True once the job is cancelled: by cancelJob under the lock (manifest), or by `kbatch cancel` from another
 * process (the cancel marker, then recorded in the manifest). Checked before every create and resubmit.
 */
export async function cancelRequested(ctx: Pick<JobContext, 'store'>): Promise<boolean> {
  const { manifest } = ctx.store;
  if (manifest.cancelledAt) return true;
  const at = await ctx.store.jobStore.cancelRequested();
  if (at === undefined) return false;
  manifest.cancelledAt = at;
  await ctx.store.save();
  return true;
}

/**
 * Find and cancel the batch of every unfinished part whose create was sent but not answered (a crash or Ctrl-C
 * while it was in flight), so that no batch of a cancelled job runs on unseen.
 * @param signal - a fresh signal (the job's own one may have fired already)
 */
export async function cancelInFlightCreates(ctx: JobContext, signal?: AbortSignal): Promise<void> {
  const inFlight = ctx.store.manifest.parts.filter((p) => !p.done && !p.batchId && p.createStartedAt);
  if (inFlight.length === 0) return;
  const scan = ctx.scan ?? new JobBatchScan(ctx.client, ctx.store.manifest, ctx.store.jobDir);
  const notBefore = Date.now(); // one fresh listing, made after every create in flight was sent
  for (const part of inFlight) {
    try {
      if (await adoptBatch(ctx, part, await scan.find(part, { notBefore, ...(signal ? { signal } : {}) }))) {
        await cancelParts(ctx, [part]);
      }
    } catch (error) {
      ctx.emit({ type: 'warning', part: part.index, message: `looking for the batch of part ${part.index} failed: ${messageOf(error)}` });
    }
  }
  await ctx.store.save();
}

/**
 * In a cancelled job, parts without a batch are never submitted: adopt (and cancel) a batch whose create
 * was recorded but not its answer, otherwise mark the part done as `not_submitted`.
 */
export async function settleCancelled(ctx: JobContext): Promise<void> {
  const { store } = ctx;
  const scan = (ctx.scan ??= new JobBatchScan(ctx.client, store.manifest, store.jobDir));
  for (const part of store.manifest.parts) {
    if (part.done || part.batchId) continue;
    if (part.createStartedAt && (await adoptBatch(ctx, part, await findOrWarn(ctx, scan, part)))) {
      await cancelParts(ctx, [part]);
      continue;
    }
    part.status = 'not_submitted';
    part.done = true;
    part.succeeded = 0;
    part.failed = 0;
  }
  await store.save();
}

/**
 * The part's batches; a batch found without metadata that does not verify (ADOPTION_UNCERTAIN) is never cancelled
 * on a guess: the warning names it, for the user to check and cancel if it is this job's.
 */
async function findOrWarn(ctx: JobContext, scan: JobBatchScan, part: JobPart): Promise<KBatch[]> {
  try {
    return await scan.find(part, ctx.signal ? { signal: ctx.signal } : {});
  } catch (error) {
    if (!isKbatchError(error) || error.code !== 'ADOPTION_UNCERTAIN') throw error;
    ctx.emit({ type: 'warning', part: part.index, message: `not cancelled, not adopted: ${error.message}` });
    return [];
  }
}
