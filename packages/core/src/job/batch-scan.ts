import { listRawBatches, metadataMatches } from '../batch/find-batch.js';
import { isTerminalStatus, parseBatch, type KBatch } from '../client/schemas.js';
import { messageOf } from '../client/retry.js';
import type { JobContext } from './context.js';
import { applyBatch } from './apply-batch.js';
import type { JobManifest, JobPart } from '../state/manifest.js';
import type { JobClient } from './job-types.js';
import { partMetadata } from './part-metadata.js';

/** Batches created more than this before the oldest recorded create are not looked at (clock skew margin). */
const SKEW_SECONDS = 3600;

/**
 * One listing of a job's batches, shared by every part of a resume that must look for a batch whose create
 * was recorded but not its answer: the account is paged once (newest first, down to the oldest recorded
 * create minus an hour), keeping only the raw items of this job.
 */
export class JobBatchScan {
  private scan: { startedAt: number; items: Promise<unknown[]> } | undefined;

  constructor(
    private readonly client: Pick<JobClient, 'batches'>,
    private readonly manifest: JobManifest,
  ) {}

  /**
   * This part's batches (same job, chunk and sha256). `notBefore` (ms) forces a new listing when the cached one
   * started earlier, e.g. after a create attempt of this process whose answer was lost.
   */
  async find(part: JobPart, options: { notBefore?: number; signal?: AbortSignal } = {}): Promise<KBatch[]> {
    if (!this.scan || this.scan.startedAt < (options.notBefore ?? 0)) {
      const startedAt = Date.now();
      const items = this.list(options.signal);
      this.scan = { startedAt, items };
      items.catch(() => {
        if (this.scan?.items === items) this.scan = undefined;
      });
    }
    const wanted = partMetadata(this.manifest.jobId, part);
    return (await this.scan.items).filter((raw) => metadataMatches(raw, wanted)).map((raw) => parseBatch(raw));
  }

  private async list(signal?: AbortSignal): Promise<unknown[]> {
    const starts = this.manifest.parts.flatMap((p) => (p.createStartedAt ? [Date.parse(p.createStartedAt)] : [])).filter((t) => !Number.isNaN(t));
    const oldest = starts.length ? Math.min(...starts) : Date.now();
    const items: unknown[] = [];
    const job = { kbatch_job: this.manifest.jobId };
    for await (const raw of listRawBatches(this.client.batches, {
      createdAfter: Math.floor(oldest / 1000) - SKEW_SECONDS,
      ...(signal ? { signal } : {}),
    })) {
      if (metadataMatches(raw, job)) items.push(raw);
    }
    return items;
  }
}

/**
 * Adopt one of the batches found for a part (a live or finished one before a failed or cancelled one). Any
 * others are duplicates of one create: warn, and ask the server to cancel those still running.
 * @returns the adopted batch, or undefined when none was found
 */
export async function adoptBatch(ctx: Pick<JobContext, 'client' | 'emit'>, part: JobPart, found: readonly KBatch[]): Promise<KBatch | undefined> {
  if (found.length === 0) return undefined;
  const dead = new Set(['failed', 'cancelled', 'cancelling']);
  const usable = found.find((b) => !dead.has(b.status)) ?? found[0]!;
  part.batchId = usable.id;
  part.adopted = true;
  applyBatch(part, usable);
  ctx.emit({ type: 'created', part: part.index, batchId: usable.id, adopted: true });
  const extras = found.filter((b) => b !== usable);
  if (extras.length > 0) {
    ctx.emit({
      type: 'warning',
      part: part.index,
      message: `${found.length} batches carry this part's metadata; adopted ${usable.id}, cancelling the others (${extras.map((b) => b.id).join(', ')})`,
    });
  }
  for (const extra of extras) {
    if (isTerminalStatus(extra.status)) continue;
    try {
      await ctx.client.batches.cancel(extra.id);
    } catch (error) {
      ctx.emit({ type: 'warning', part: part.index, message: `cancelling duplicate batch ${extra.id} failed: ${messageOf(error)}` });
    }
  }
  return usable;
}
