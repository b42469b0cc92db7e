import type OpenAI from 'openai';
import { BatchSchema, ListPageSchema, parseBatch, parseResponse, type KBatch } from '../client/schemas.js';
import { withRequestSignal } from '../internal/request-signal.js';

/** Options of {@link findBatchByMetadata} and {@link listRawBatches}. */
export interface FindBatchOptions {
  signal?: AbortSignal;
  /** Page size (1–100). */
  pageSize?: number;
  /**
   * Unix seconds: stop paging at the first batch created before this (lists are newest first), so a search
   * does not read an account's whole history. Batches without a readable created_at never stop it.
   */
  createdAfter?: number;
}

/**
 * Page through the account's batches (newest first) and return those whose metadata contains every given
 * key/value, so a batch created just before a crash can be adopted instead of paid for twice. Metadata is
 * matched on the raw list items and only matches are parsed: one odd foreign batch cannot break the search.
 * @param client - needs only `batches.list`
 * @param metadata - e.g. `{ kbatch_job, kbatch_chunk, kbatch_sha256 }`
 * @example
 * const [existing] = await findBatchByMetadata(client.batches, { kbatch_job: 'kb-1', kbatch_chunk: '00003' });
 */
export async function findBatchByMetadata(
  client: Pick<OpenAI['batches'], 'list'>,
  metadata: Record<string, string>,
  options: FindBatchOptions = {},
): Promise<KBatch[]> {
  const found: KBatch[] = [];
  for await (const raw of listRawBatches(client, options)) {
    if (metadataMatches(raw, metadata)) found.push(parseBatch(raw));
  }
  return found;
}

/** True when a raw batch object's metadata holds every given key/value. */
export function metadataMatches(raw: unknown, metadata: Record<string, string>): boolean {
  const meta = (raw as { metadata?: unknown } | null)?.metadata;
  if (typeof meta !== 'object' || meta === null) return false;
  return Object.entries(metadata).every(([k, v]) => (meta as Record<string, unknown>)[k] === v);
}

/**
 * Every batch of the account, page by page (cursor `after` = last id), parsed at the boundary.
 * @param client - needs only `batches.list`
 */
export async function* listAllBatches(client: Pick<OpenAI['batches'], 'list'>, options: FindBatchOptions = {}): AsyncGenerator<KBatch> {
  for await (const raw of listRawBatches(client, options)) yield parseBatch(raw);
}

/**
 * Every batch of the account as the server sent it (unparsed), page by page; stops at `createdAfter`.
 * @param client - needs only `batches.list`
 */
export async function* listRawBatches(client: Pick<OpenAI['batches'], 'list'>, options: FindBatchOptions = {}): AsyncGenerator<unknown> {
  let after: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const raw = await withRequestSignal(options.signal, (signal) =>
      client.list({ limit: options.pageSize ?? 100, ...(after ? { after } : {}) }, signal ? { signal } : undefined),
    );
    const page = parseResponse(ListPageSchema, raw, 'batch list page');
    let last: string | undefined;
    let fresh = 0;
    for (const item of page.data) {
      const id = (item as { id?: unknown } | null)?.id;
      if (typeof id !== 'string') {
        yield item;
        continue;
      }
      last = id;
      if (seen.has(id)) continue;
      seen.add(id);
      fresh++;
      if (options.createdAfter !== undefined) {
        const created = createdAtOf(item);
        if (created !== null && created < options.createdAfter) return;
      }
      yield item;
    }
    // Stop on the last page, an empty page, or a server that ignores `after` (no new ids).
    if (!page.has_more || last === undefined || fresh === 0) return;
    after = page.last_id ?? last;
  }
}

function createdAtOf(item: unknown): number | null {
  const parsed = BatchSchema.shape.created_at.safeParse((item as { created_at?: unknown }).created_at);
  return parsed.success ? parsed.data : null;
}
