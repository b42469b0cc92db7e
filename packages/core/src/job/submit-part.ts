import { uploadFile, type UploadFileOptions } from '../client/upload-file.js';
import { backoffDelay, isAbortError, isTransientError, messageOf, retryAfterMs, sleep } from '../client/retry.js';
import { createBatch } from '../batch/create-batch.js';
import type { KBatch } from '../client/schemas.js';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { jobPath } from './create-job.js';
import { crashPoint } from './crash-point.js';
import { partMetadata } from './part-metadata.js';
import { adoptBatch, JobBatchScan } from './batch-scan.js';
import { cancelRequested } from './cancel-parts.js';
import { uploadFilename } from './delete-files.js';
import { quotaTurn } from '../quota/part-quota.js';
import { withRequestSignal } from '../internal/request-signal.js';

export { partMetadata };

/**
 * Take a part to "batch created": upload its chunk (if no file id yet), then create its batch idempotently.
 * Intent is saved before each remote call, so a crash never leaves an unrecorded batch behind. Nothing is
 * created once the job is cancelled (the part stays without a batch and is settled as not submitted). Under a shared
 * quota (`ctx.quota`) a part whose batch does not fit yet keeps its place in line and stays without a batch: the wait
 * asks again (see waitForParts).
 */
export async function submitPart(ctx: JobContext, part: JobPart): Promise<void> {
  const { store, client, signal } = ctx;
  const jobId = store.manifest.jobId;
  if (await cancelRequested(ctx)) return;
  if (!part.fileId) {
    part.uploadStartedAt = new Date().toISOString();
    part.uploadAttempts++;
    await store.save();
    const upload = client.uploadBatchInput ?? ((path: string, options: UploadFileOptions) => uploadFile(client, path, options));
    // An adapter's upload may end with an SDK call (Together reads the file back): it gets a child of the job's signal.
    const file = await withRequestSignal(signal, (request) => upload(jobPath(store.jobDir, part.path), {
      purpose: 'batch',
      filename: uploadFilename(jobId, part.index),
      expectedSha256: part.sha256,
      jobDir: store.jobDir,
      ...(part.mtimeMs !== undefined ? { expectedStat: { size: part.bytes, mtimeMs: part.mtimeMs } } : {}),
      ...(request ? { signal: request } : {}),
      ...(ctx.opts.uploadAttempts === undefined ? {} : { maxAttempts: ctx.opts.uploadAttempts }),
      retryBaseMs: ctx.opts.retryBaseMs,
      onRetry: ({ attempt, delayMs, error }) => {
        ctx.uploadRetried = true;
        ctx.emit({ type: 'retry', operation: 'upload', part: part.index, attempt, delayMs, message: messageOf(error) });
      },
    }));
    crashPoint('after-upload-unrecorded');
    part.fileId = file.id;
    await store.save();
    ctx.emit({ type: 'uploaded', part: part.index, fileId: file.id, bytes: part.bytes });
    crashPoint('after-upload');
  }
  if (!part.batchId) {
    // The quota slot is taken before the create's intent: a crash after the create leaves it held, never a batch uncounted.
    if (!(await quotaTurn(ctx, part))) return;
    crashPoint('after-quota-slot');
    const batch = await createOrAdopt(ctx, part);
    if (batch === 'requeued') return;
    if (!batch) return ctx.quota?.release(part);
    part.batchId = batch.id;
    part.status = batch.status;
    part.requestCounts = batch.request_counts;
    await store.save();
  }
}

// Before any create that might repeat one (intent already recorded), look for the batch by its metadata.
// 'requeued': the quota slot was lost before the create was sent (the part waits in line again); undefined: cancelled.
async function createOrAdopt(ctx: JobContext, part: JobPart): Promise<KBatch | undefined | 'requeued'> {
  const { store, client, signal } = ctx;
  const metadata = partMetadata(store.manifest.jobId, part);
  let lastCreateEnded = 0; // a create of this process that failed: only a listing made after it can show its batch
  for (let attempt = 0; ; attempt++) {
    try {
      if (part.createStartedAt) {
        const scan = (ctx.scan ??= new JobBatchScan(client, store.manifest, store.jobDir));
        const adopted = await adoptBatch(ctx, part, await scan.find(part, { notBefore: lastCreateEnded, ...(signal ? { signal } : {}) }));
        if (adopted) return adopted;
      }
      if (await cancelRequested(ctx)) return undefined;
      part.createStartedAt = new Date().toISOString();
      part.createAttempts++;
      await store.save();
      if (ctx.quota !== undefined && !(await ctx.quota.confirm(part))) return 'requeued';
      crashPoint('before-create-sent');
      let batch: KBatch;
      try {
        const inputFileId = (await client.resolveInputFileId?.(part.fileId!, { jobDir: store.jobDir, chunkPath: jobPath(store.jobDir, part.path), sha256: part.sha256 })) ?? part.fileId!;
        // A lock lost since the intent was saved: another process may be adopting or creating this very batch.
        await store.jobStore.assertLocked?.();
        batch = await createBatch(
          client.batches,
          { inputFileId, window: store.manifest.window, endpoint: store.manifest.endpoint, metadata, outputExpiresAfter: store.manifest.outputExpiresAfter },
          signal ? { signal } : {},
        );
      } catch (error) {
        // Refused outright (a 4xx, no batch made; any earlier create was ruled out by the scan above): it holds no room.
        if (!isTransientError(error) && typeof (error as { status?: unknown }).status === 'number') await ctx.quota?.release(part);
        throw error;
      } finally {
        lastCreateEnded = Date.now();
      }
      crashPoint('after-create');
      ctx.emit({ type: 'created', part: part.index, batchId: batch.id, adopted: false });
      return batch;
    } catch (error) {
      if (isAbortError(error) || signal?.aborted || !isTransientError(error) || attempt >= 8) throw error;
      const delayMs = Math.min(60_000, retryAfterMs(error) ?? backoffDelay(attempt, { baseMs: ctx.opts.retryBaseMs, maxMs: 15_000 }));
      ctx.emit({ type: 'retry', operation: 'create', part: part.index, attempt: attempt + 1, delayMs, message: messageOf(error) });
      await sleep(delayMs, signal);
    }
  }
}
