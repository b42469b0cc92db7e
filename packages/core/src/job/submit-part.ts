import { uploadFile } from '../client/upload-file.js';
import { backoffDelay, isAbortError, isTransientError, retryAfterMs, sleep } from '../client/retry.js';
import { createBatch } from '../batch/create-batch.js';
import { findBatchByMetadata } from '../batch/find-batch.js';
import type { KBatch } from '../client/schemas.js';
import type { JobPart } from './manifest.js';
import type { JobContext } from './context.js';
import { jobPath } from './create-job.js';
import { crashPoint } from './crash-point.js';

/** The metadata that names a part's batch; also the key for adopting it after a crash. */
export function partMetadata(jobId: string, part: JobPart): Record<string, string> {
  return { kbatch_job: jobId, kbatch_chunk: part.index, kbatch_sha256: part.sha256 };
}

/**
 * Take a part to "batch created": upload its chunk (if no file id yet), then create its batch idempotently.
 * Intent is saved before each remote call, so a crash never leaves an unrecorded batch behind.
 */
export async function submitPart(ctx: JobContext, part: JobPart): Promise<void> {
  const { store, client, signal } = ctx;
  const jobId = store.manifest.jobId;
  if (!part.fileId) {
    part.uploadStartedAt = new Date().toISOString();
    part.uploadAttempts++;
    await store.save();
    const file = await uploadFile(client, jobPath(store.jobDir, part.path), {
      purpose: 'batch',
      filename: `${jobId}-part-${part.index}.jsonl`,
      ...(signal ? { signal } : {}),
      retryBaseMs: ctx.opts.retryBaseMs,
      onRetry: ({ attempt, delayMs, error }) =>
        ctx.emit({ type: 'retry', operation: 'upload', part: part.index, attempt, delayMs, message: messageOf(error) }),
    });
    part.fileId = file.id;
    await store.save();
    ctx.emit({ type: 'uploaded', part: part.index, fileId: file.id, bytes: part.bytes });
    crashPoint('after-upload');
  }
  if (!part.batchId) {
    const batch = await createOrAdopt(ctx, part);
    part.batchId = batch.id;
    part.status = batch.status;
    part.requestCounts = batch.request_counts;
    await store.save();
  }
}

// Before any create that might repeat one (intent already recorded), look for the batch by its metadata.
async function createOrAdopt(ctx: JobContext, part: JobPart): Promise<KBatch> {
  const { store, client, signal } = ctx;
  const metadata = partMetadata(store.manifest.jobId, part);
  for (let attempt = 0; ; attempt++) {
    try {
      if (part.createStartedAt) {
        const found = await findBatchByMetadata(client.batches, metadata, signal ? { signal } : {});
        const usable = found.find((b) => b.status !== 'failed' && b.status !== 'cancelled') ?? found[0];
        if (usable) {
          part.adopted = true;
          ctx.emit({ type: 'created', part: part.index, batchId: usable.id, adopted: true });
          return usable;
        }
      }
      part.createStartedAt = new Date().toISOString();
      part.createAttempts++;
      await store.save();
      const batch = await createBatch(
        client.batches,
        { inputFileId: part.fileId!, window: store.manifest.window, endpoint: store.manifest.endpoint, metadata },
        signal ? { signal } : {},
      );
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

/** Message of any thrown value, for events and reports. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
