import type OpenAI from 'openai';
import { BatchSchema, ListPageSchema, parseBatch, parseResponse, RequestCountsSchema, type KBatch } from '../client/schemas.js';
import { withRequestSignal } from '../internal/request-signal.js';
import { plainClientOf, plainGetJson, plainPathId } from '../client/plain-get.js';
import { retrieveBatch } from './create-batch.js';

/** Options of {@link listedBatches}. */
export interface ListedBatchesOptions {
  signal?: AbortSignal;
  /** Page size (1–100). */
  pageSize?: number;
  /**
   * The batches parsed by earlier listings (kept up to date here): an item whose status, counts and file ids are
   * unchanged is not parsed again (most polls of a running batch bring no news).
   */
  parsed?: Map<string, { key: string; batch: KBatch }>;
}

/**
 * The batches among `ids` that the newest page of the account's batches holds, parsed at the boundary: one
 * request instead of one per batch in flight. An id not on that page (older, or crowded out by other batches)
 * or an item that does not parse is left out, so its caller fetches that batch on its own. No SDK retries:
 * a failed listing costs only a fallback to one GET per batch.
 * @param client - needs only `batches.list`
 * @example const batches = await listedBatches(client.batches, new Set(['batch_1', 'batch_2']));
 */
export async function listedBatches(
  client: Pick<OpenAI['batches'], 'list'>,
  ids: ReadonlySet<string>,
  options: ListedBatchesOptions = {},
): Promise<Map<string, KBatch>> {
  const limit = options.pageSize ?? 100;
  const plain = plainClientOf(client, 'list');
  const raw = await withRequestSignal(options.signal, async (signal) =>
    (plain ? await plainGetJson(plain, { path: '/batches', query: { limit }, signal }) : undefined) ??
    client.list({ limit }, { maxRetries: 0, ...(signal ? { signal } : {}) }),
  );
  const page = parseResponse(ListPageSchema, raw, 'batch list page');
  const found = new Map<string, KBatch>();
  for (const item of page.data) {
    const id = (item as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || !ids.has(id) || found.has(id)) continue;
    const key = newsKey(item as Record<string, unknown>);
    const known = options.parsed?.get(id);
    if (known && known.key === key) {
      found.set(id, known.batch);
      continue;
    }
    const batch = (known && countsMoved(known, item as Record<string, unknown>)) ?? BatchSchema.safeParse(item).data;
    if (!batch || batch.id !== id) continue;
    found.set(id, batch);
    options.parsed?.set(id, { key, batch });
  }
  return found;
}

/**
 * A known batch whose news are only its request counts (the usual poll of a running batch): the counts parsed
 * alone (as BatchSchema parses them) into the known batch; undefined when more changed or they do not parse.
 */
function countsMoved(known: { key: string; batch: KBatch }, item: Record<string, unknown>): KBatch | undefined {
  const batch = known.batch;
  if (item['status'] !== batch.status || (item['output_file_id'] || null) !== batch.output_file_id || (item['error_file_id'] || null) !== batch.error_file_id) return undefined;
  const counts = RequestCountsSchema.safeParse(item['request_counts']);
  return counts.success ? { ...batch, request_counts: counts.data } : undefined;
}

/** What a poll acts on, read raw: status, request counts and result file ids (anything else a poll never reads). */
function newsKey(item: Record<string, unknown>): string {
  const c = item['request_counts'] as Record<string, unknown> | null | undefined;
  return JSON.stringify([item['status'], c?.['total'], c?.['completed'], c?.['failed'], item['output_file_id'], item['error_file_id']]);
}

/**
 * One batch as a poll reads it: a plain openai client's GET skips the SDK's per-request work (see `plainGet`);
 * any other client, an unusual id or an answer the plain path does not take goes through `retrieveBatch`.
 * @param client - needs only `batches.retrieve`
 */
export async function polledBatch(client: Pick<OpenAI['batches'], 'retrieve'>, batchId: string, options: { signal?: AbortSignal } = {}): Promise<KBatch> {
  const plain = plainPathId(batchId) ? plainClientOf(client, 'retrieve') : undefined;
  const raw = plain ? await withRequestSignal(options.signal, (signal) => plainGetJson(plain, { path: `/batches/${batchId}`, signal })) : undefined;
  return raw === undefined ? retrieveBatch(client, batchId, options) : parseBatch(raw);
}
