import { APIError } from 'openai';
import { isTerminalStatus } from '../client/schemas.js';
import { isAbortError, messageOf } from '../client/retry.js';
import type { JobPart } from '../state/manifest.js';
import type { JobContext } from './context.js';
import { crashPoint } from './crash-point.js';
import { listRawBatches } from '../batch/find-batch.js';
import { withRequestSignal } from '../internal/request-signal.js';

/** The name a part's input file is uploaded under (submitPart); its job prefix finds orphans after a crash. */
export function uploadFilename(jobId: string, index: string): string {
  return `${jobId}-part-${index}.jsonl`;
}

// Only a finished part whose batch is over (or that never got one, nor tried to) no longer needs its file.
function fileNoLongerNeeded(part: JobPart): boolean {
  if (!part.done || !part.fileId || part.fileDeletedAt) return false;
  return part.batchId ? part.status !== undefined && isTerminalStatus(part.status) : !part.createStartedAt;
}

/**
 * Delete the uploaded input file of each finished part (its batch is terminal and its results are downloaded),
 * unless `keepFiles`. Each deletion is saved (`fileDeletedAt`), so a crash mid-cleanup only repeats a delete,
 * and a file the server no longer has counts as deleted. A failed delete is a warning, never a job failure.
 */
export async function deleteFinishedFiles(ctx: JobContext, parts: readonly JobPart[] = ctx.store.manifest.parts): Promise<void> {
  const { client, store, signal } = ctx;
  if (ctx.opts.keepFiles || !client.files.delete) return;
  for (const part of parts) {
    if (!fileNoLongerNeeded(part)) continue;
    if (!(await deleteFile(ctx, part.fileId!, part.index))) continue;
    part.fileDeletedAt = new Date().toISOString();
    await store.save();
    crashPoint('after-file-delete');
    if (signal?.aborted) return;
  }
}

/**
 * After a crash during an upload (`uploadStartedAt` without `fileId`), or an upload retried after a lost answer
 * (`ctx.uploadRetried`), the server may hold a file nobody recorded: list the account's batch files and delete
 * those named after this job that no part records. Runs under the job lock while no upload of this job is in
 * flight, so every file a batch uses is recorded.
 * @returns the ids of the deleted orphans
 */
export async function deleteOrphanUploads(ctx: JobContext): Promise<string[]> {
  const { client, store } = ctx;
  const { manifest } = store;
  if (!client.files.list || !client.files.delete) return [];
  if (!ctx.uploadRetried && !manifest.parts.some((p) => p.uploadStartedAt && !p.fileId)) return [];
  const recorded = new Set(manifest.parts.flatMap((p) => (p.fileId ? [p.fileId] : [])));
  const prefix = `${manifest.jobId}-part-`;
  let orphans: Array<{ id: string; filename: string }> = [];
  try {
    let oldest = Infinity;
    // One child signal for the whole listing: the SDK fetches its later pages with the options of the first.
    await withRequestSignal(ctx.signal, async (signal) => {
      for await (const file of client.files.list!({ purpose: 'batch' }, signal ? { signal } : {})) {
        if (!file.filename.startsWith(prefix) || recorded.has(file.id)) continue;
        orphans.push({ id: file.id, filename: file.filename });
        oldest = Math.min(oldest, typeof file.created_at === 'number' ? file.created_at : 0);
      }
    });
    if (orphans.length > 0) orphans = await notInUse(ctx, orphans, oldest);
  } catch (error) {
    if (isAbortError(error) || ctx.signal?.aborted) throw error;
    ctx.emit({ type: 'warning', message: `listing files to clean up after an interrupted upload failed: ${messageOf(error)}` });
    return [];
  }
  const deleted: string[] = [];
  for (const { id } of orphans) if (await deleteFile(ctx, id)) deleted.push(id);
  ctx.uploadRetried = false;
  if (deleted.length > 0) ctx.emit({ type: 'warning', message: `deleted ${deleted.length} input file(s) left on the server by an interrupted upload (${deleted.join(', ')})` });
  return deleted;
}

/**
 * The files no batch uses as its input: a name is not proof of ownership (a copied job directory keeps its job id),
 * so a file under any batch created since the oldest of them is kept, with a warning. A batch that names this job's part in
 * its metadata and is not the one the part records may read any upload named after that part (whether or not it says
 * which file it reads, and in whatever id form): those are kept too.
 */
async function notInUse<T extends { id: string; filename: string }>(ctx: JobContext, files: T[], oldest: number): Promise<T[]> {
  const { jobId, parts } = ctx.store.manifest;
  const recordedBatches = new Set(parts.flatMap((p) => (p.batchId ? [p.batchId] : [])));
  const used = new Map<string, string>();
  // A batch is created after its input file: the listing stops there (minus a clock skew margin).
  for await (const raw of listRawBatches(ctx.client.batches, { createdAfter: oldest - 3600, ...(ctx.signal ? { signal: ctx.signal } : {}) })) {
    const { id, input_file_id: file, metadata } = raw as { id?: unknown; input_file_id?: unknown; metadata?: Record<string, unknown> | null };
    if (typeof id !== 'string') continue;
    if (typeof file === 'string') used.set(file, id);
    // Also when it names its input: a provider may name it in another id form than its file listing.
    if (metadata?.['kbatch_job'] === jobId && typeof metadata['kbatch_chunk'] === 'string' && !recordedBatches.has(id)) {
      const name = uploadFilename(jobId, metadata['kbatch_chunk']);
      for (const f of files) if (f.filename === name) used.set(f.id, id);
    }
  }
  const kept = files.filter((f) => used.has(f.id));
  if (kept.length > 0) {
    ctx.emit({
      type: 'warning',
      message: `kept ${kept.length} file(s) named after this job but unrecorded, because a batch uses them (${kept.map((f) => `${f.id} by ${used.get(f.id)}`).join(', ')}); a copy of this job directory may be running`,
    });
  }
  return files.filter((f) => !used.has(f.id));
}

// True when the file is gone (deleted now, or already); a failure is reported and leaves the file.
async function deleteFile(ctx: JobContext, id: string, part?: string): Promise<boolean> {
  try {
    await withRequestSignal(ctx.signal, (signal) => ctx.client.files.delete!(id, signal ? { signal } : {}));
    return true;
  } catch (error) {
    if (error instanceof APIError && error.status === 404) return true;
    if (isAbortError(error) || ctx.signal?.aborted) throw error;
    ctx.emit({ type: 'warning', ...(part ? { part } : {}), message: `deleting input file ${id} failed (kept): ${messageOf(error)}` });
    return false;
  }
}
