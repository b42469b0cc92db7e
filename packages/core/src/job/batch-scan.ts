import { Readable } from 'node:stream';
import { listRawBatches, metadataMatches } from '../batch/find-batch.js';
import { isTerminalStatus, parseBatch, type KBatch } from '../client/schemas.js';
import { messageOf } from '../client/retry.js';
import { KbatchError, isKbatchError } from '../errors.js';
import { LineSplitter } from '../internal/line-splitter.js';
import { withRequestSignal } from '../internal/request-signal.js';
import type { JobContext } from './context.js';
import { applyBatch } from './apply-batch.js';
import type { JobManifest, JobPart } from '../state/manifest.js';
import type { JobClient } from './job-types.js';
import { partMetadata } from './part-metadata.js';
import { jobPath } from './create-job.js';
import { readFileLines } from './lines.js';
import { IdDigest } from './part-verdict.js';

/** Batches created more than this before the oldest recorded create are not looked at (clock skew margin). */
const SKEW_SECONDS = 3600;
/**
 * Without metadata, a batch is the part's only if created within this of its recorded intent: before it by clock
 * skew (10 min), after it by the create's own timeout (10 min) plus skew — the narrower, the fewer strangers match.
 */
const COUNT_MATCH_BEFORE_SECONDS = 600;
const COUNT_MATCH_AFTER_SECONDS = 1800;

/** A client whose batches carry no metadata (Anthropic): adoption matches request count, time and results instead. */
const hasMetadata = (client: Pick<JobClient, 'batchMetadata'>): boolean => client.batchMetadata !== false;

/**
 * One listing of a job's batches, shared by every part of a resume that must look for a batch whose create
 * was recorded but not its answer: the account is paged once (newest first, down to the oldest recorded
 * create minus an hour), keeping only the raw items of this job.
 */
export class JobBatchScan {
  private scan: { startedAt: number; items: Promise<unknown[]> } | undefined;
  /** Batches found without metadata and handed to a part (batch id → part index) by this scan: never to another. */
  private readonly claimed = new Map<string, string>();

  constructor(
    private readonly client: Pick<JobClient, 'batches'> & Partial<Pick<JobClient, 'files' | 'batchMetadata' | 'batchInputMatches' | 'batchInputFile'>>,
    private readonly manifest: JobManifest,
    /** Where the parts' chunks are (relative paths): needed to verify a batch found without metadata. */
    private readonly jobDir?: string,
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
    if (!hasMetadata(this.client) && this.client.batchInputFile) return this.findByInputFile(part, await this.scan.items);
    if (!hasMetadata(this.client)) return this.findByCount(part, await this.scan.items, options.signal);
    const wanted = partMetadata(this.manifest.jobId, part);
    return (await this.scan.items).filter((raw) => metadataMatches(raw, wanted)).map((raw) => parseBatch(raw));
  }

  /**
   * The part's batch on a provider without metadata whose batches name their input file: the one made from the upload
   * this part recorded (exact: kbatch records the file id before any create and makes one batch per file). Without a
   * recorded file no create was ever sent for it.
   */
  private findByInputFile(part: JobPart, items: unknown[]): KBatch[] {
    if (!part.fileId) return [];
    const recorded = this.recorded();
    return items.filter((raw) => (raw as { input_file_id?: unknown } | null)?.input_file_id === part.fileId).map((raw) => parseBatch(raw)).filter((b) => !recorded.has(b.id));
  }

  /**
   * The part's batch on a provider without batch metadata: among the batches created around its intent with its
   * request count that no part of this job recorded, only an ended one whose results verify (their custom_ids are all
   * of this part's, each once, and, where the client can tell, carry this chunk's tag) is adopted. A running candidate,
   * or an ended one whose results cannot be read, may be this part's or a stranger's: kbatch stops rather than adopt a
   * stranger or pay twice.
   * @throws KbatchError ADOPTION_UNCERTAIN naming the unverifiable candidates when none verifies
   */
  private async findByCount(part: JobPart, items: unknown[], signal?: AbortSignal): Promise<KBatch[]> {
    const intent = Math.floor(Date.parse(part.createStartedAt ?? '') / 1000);
    const recorded = this.recorded();
    const candidates = items
      .map((raw) => parseBatch(raw))
      .filter((b) => !recorded.has(b.id) && b.request_counts.total === part.requests && b.created_at !== null)
      .filter((b) => b.created_at! >= intent - COUNT_MATCH_BEFORE_SECONDS && b.created_at! <= intent + COUNT_MATCH_AFTER_SECONDS);
    const unsure: Array<{ batch: KBatch; why: string }> = candidates.filter((b) => !isTerminalStatus(b.status)).map((batch) => ({ batch, why: 'still running' }));
    const verified: KBatch[] = [];
    const ended = candidates.filter((b) => isTerminalStatus(b.status));
    const own = ended.length > 0 ? await this.partDigest(part) : '';
    for (const b of ended) {
      const verdict = await this.verify(b, { own, sha256: part.sha256, ...(signal ? { signal } : {}) });
      // Claimed with no await in between: two parts scanning at once can never both adopt one batch.
      if (verdict === true && !this.recorded().has(b.id) && (this.claimed.get(b.id) ?? part.index) === part.index) {
        this.claimed.set(b.id, part.index);
        verified.push(b);
      } else if (typeof verdict === 'string') unsure.push({ batch: b, why: verdict });
    }
    if (verified.length > 0 || unsure.length === 0) return verified;
    throw adoptionUncertain(part, unsure);
  }

  /** The batch ids recorded by the parts of this job (read afresh: another part may have adopted one meanwhile). */
  private recorded(): Set<string> {
    return new Set(this.manifest.parts.flatMap((p) => (p.batchId ? [p.batchId] : [])));
  }

  /** True when an ended batch answers this part, false when it does not, or why it could not be read. */
  private async verify(batch: KBatch, options: { own: string; sha256: string; signal?: AbortSignal }): Promise<boolean | string> {
    const { signal } = options;
    try {
      return await withRequestSignal(signal, async (request) => {
        // The tag first: a batch of another chunk is told apart without reading its ids.
        if (this.client.batchInputMatches && !(await this.client.batchInputMatches(batch.id, options.sha256, request ? { signal: request } : {}))) return false;
        return (await this.resultsDigest(batch, request)) === options.own;
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      // The client refused its results as another chunk's: a definite "not ours".
      if (isKbatchError(error) && error.code === 'JOB_MISMATCH') return false;
      return `ended, its results could not be read (${messageOf(error)})`;
    }
  }

  /** The digest of a part's custom_ids, read from its chunk. */
  private async partDigest(part: JobPart): Promise<string> {
    const digest = new IdDigest();
    for await (const { text } of readFileLines(jobPath(this.jobDir ?? '.', part.path))) digest.addText((JSON.parse(text) as { custom_id: string }).custom_id);
    return digest.toString();
  }

  /**
   * The digest of the custom_ids of an ended batch's results (its output and error files, streamed).
   * @throws whatever the read throws (after the client's own retries): an unread batch is never "not ours"
   */
  private async resultsDigest(batch: KBatch, signal?: AbortSignal): Promise<string> {
    const files = this.client.files;
    if (!files) throw new KbatchError('ADOPTION_UNCERTAIN', 'this client cannot read results files');
    const digest = new IdDigest();
    const add = (line: Buffer): void => {
      const text = line.toString('utf8');
      if (text.trim() !== '') digest.addText((JSON.parse(text) as { custom_id: string }).custom_id);
    };
    for (const id of [batch.output_file_id, batch.error_file_id]) {
      if (!id) continue;
      const response = await files.content(id, signal ? { signal } : undefined);
      if (!response.body) continue;
      const splitter = new LineSplitter();
      for await (const block of Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)) splitter.push(block as Buffer).forEach(add);
      splitter.end().forEach(add);
    }
    return digest.toString();
  }

  private async list(signal?: AbortSignal): Promise<unknown[]> {
    const starts = this.manifest.parts.flatMap((p) => (p.createStartedAt ? [Date.parse(p.createStartedAt)] : [])).filter((t) => !Number.isNaN(t));
    const oldest = starts.length ? Math.min(...starts) : Date.now();
    const items: unknown[] = [];
    const job = { kbatch_job: this.manifest.jobId };
    const metadata = hasMetadata(this.client);
    for await (const raw of listRawBatches(this.client.batches, {
      // An exact match (metadata, or the input file) can look as far back as clock skew allows; a count match no further than it must.
      createdAfter: Math.floor(oldest / 1000) - (metadata || this.client.batchInputFile ? SKEW_SECONDS : COUNT_MATCH_BEFORE_SECONDS),
      ...(signal ? { signal } : {}),
    })) {
      // Without metadata every batch of the window is kept: findByCount picks by count, time and custom_ids.
      if (!metadata || metadataMatches(raw, job)) items.push(raw);
    }
    return items;
  }
}

/** ADOPTION_UNCERTAIN for a part whose lost create may have made one of these batches: what to check, by id. */
function adoptionUncertain(part: JobPart, unsure: ReadonlyArray<{ batch: KBatch; why: string }>): KbatchError {
  const named = unsure.map(({ batch, why }) => `${batch.id} (created ${new Date(batch.created_at! * 1000).toISOString()}, ${batch.request_counts.total} requests, ${why})`);
  return new KbatchError(
    'ADOPTION_UNCERTAIN',
    `Part ${part.index} (${part.requests} requests) may have a batch created before a crash (create sent at ${part.createStartedAt}), and ${unsure.length === 1 ? 'this batch of the account matches' : `these ${unsure.length} batches of the account match`} ` +
      `its request count and time: ${named.join('; ')}. This provider keeps no batch metadata, so kbatch cannot tell whether one is this part's, and creates none. ` +
      `Resume once ${unsure.length === 1 ? 'it has' : 'they have'} ended and can be read (kbatch then checks their results' custom_ids and adopts the one that is this part's), or cancel any that is not yours in the provider's console`,
    { batchId: unsure[0]!.batch.id },
  );
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
  if (!hasMetadata(ctx.client)) {
    const proof = ctx.client.batchInputFile ? `its input file is this part's upload ${part.fileId}` : "its results' custom_ids are this part's";
    ctx.emit({ type: 'warning', part: part.index, message: `adopted batch ${usable.id} after a lost create: the provider keeps no batch metadata, and ${proof}` });
  }
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
