import type OpenAI from 'openai';
import { parseBatch, type KBatch } from '../client/schemas.js';
import { withRequestSignal } from '../internal/request-signal.js';

/** The batch endpoint kluster supports. */
export const CHAT_COMPLETIONS_ENDPOINT = '/v1/chat/completions';

/** What {@link createBatch} sends. */
export interface CreateBatchParams {
  inputFileId: string;
  /** Completion window, e.g. `24h`. */
  window: string;
  metadata?: Record<string, string>;
  endpoint?: string;
}

/**
 * Create one batch, without SDK retries: a create whose answer was lost may still have happened,
 * so callers retry only after looking for it (see {@link findBatchByMetadata}).
 * @param client - needs only `batches.create`
 */
export async function createBatch(
  client: Pick<OpenAI['batches'], 'create'>,
  params: CreateBatchParams,
  options: { signal?: AbortSignal } = {},
): Promise<KBatch> {
  const raw = await withRequestSignal(options.signal, (signal) => client.create(
    {
      input_file_id: params.inputFileId,
      endpoint: (params.endpoint ?? CHAT_COMPLETIONS_ENDPOINT) as '/v1/chat/completions',
      completion_window: params.window as '24h',
      ...(params.metadata ? { metadata: params.metadata } : {}),
    },
    { maxRetries: 0, ...(signal ? { signal } : {}) },
  ));
  return parseBatch(raw);
}

/**
 * Fetch a batch and parse it at the boundary.
 * @param client - needs only `batches.retrieve`
 */
export async function retrieveBatch(
  client: Pick<OpenAI['batches'], 'retrieve'>,
  batchId: string,
  options: { signal?: AbortSignal } = {},
): Promise<KBatch> {
  return parseBatch(await withRequestSignal(options.signal, (signal) => client.retrieve(batchId, signal ? { signal } : undefined)));
}
