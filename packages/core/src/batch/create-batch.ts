import type OpenAI from 'openai';
import { z } from 'zod';
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
  /** Seconds the output and error files are kept after their creation (`output_expires_after`; OpenAI only). */
  outputExpiresAfter?: number | undefined;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };
const DURATION_ERROR = 'must be a whole number of seconds or a duration such as 3600s, 12h or 30d';

/**
 * How long a batch's output files are kept (OpenAI's `output_expires_after`): a whole number of seconds, or a
 * duration `<n>s|m|h|d` such as `12h` or `30d`, parsed into seconds. The provider's range is checked separately.
 */
export const OutputExpiresAfterSchema = z.union([z.int(), z.string()], { error: DURATION_ERROR }).transform((value, ctx) => {
  const match = typeof value === 'string' ? /^\s*(\d+)\s*([smhd])\s*$/.exec(value) : null;
  const seconds = typeof value === 'number' ? value : match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : NaN;
  if (Number.isSafeInteger(seconds) && seconds > 0) return seconds;
  ctx.addIssue({ code: 'custom', message: DURATION_ERROR });
  return z.NEVER;
});

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
      ...(params.outputExpiresAfter === undefined ? {} : { output_expires_after: { anchor: 'created_at' as const, seconds: params.outputExpiresAfter } }),
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
