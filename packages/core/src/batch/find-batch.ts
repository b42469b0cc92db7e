import type OpenAI from 'openai';
import { ListPageSchema, parseBatch, parseResponse, type KBatch } from '../client/schemas.js';

/** Options of {@link findBatchByMetadata}. */
export interface FindBatchOptions {
  signal?: AbortSignal;
  /** Page size (1–100). */
  pageSize?: number;
}

/**
 * Page through all batches and return those whose metadata contains every given key/value,
 * so a batch created just before a crash can be adopted instead of paid for twice.
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
  for await (const batch of listAllBatches(client, options)) {
    const meta = batch.metadata ?? {};
    if (Object.entries(metadata).every(([k, v]) => meta[k] === v)) found.push(batch);
  }
  return found;
}

/**
 * Every batch of the account, page by page (cursor `after` = last id), parsed at the boundary.
 * @param client - needs only `batches.list`
 */
export async function* listAllBatches(
  client: Pick<OpenAI['batches'], 'list'>,
  options: FindBatchOptions = {},
): AsyncGenerator<KBatch> {
  let after: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const raw = await client.list(
      { limit: options.pageSize ?? 100, ...(after ? { after } : {}) },
      options.signal ? { signal: options.signal } : undefined,
    );
    const page = parseResponse(ListPageSchema, raw, 'batch list page');
    let last: string | undefined;
    let fresh = 0;
    for (const item of page.data) {
      const batch = parseBatch(item);
      last = batch.id;
      if (seen.has(batch.id)) continue;
      seen.add(batch.id);
      fresh++;
      yield batch;
    }
    // Stop on the last page, an empty page, or a server that ignores `after` (no new ids).
    if (!page.has_more || last === undefined || fresh === 0) return;
    after = page.last_id ?? last;
  }
}
