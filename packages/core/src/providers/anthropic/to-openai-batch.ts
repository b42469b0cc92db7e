// An Anthropic MessageBatch → the OpenAI-shaped batch object kbatch's job reads, and a result line → a batch result line.
import { decodeCustomId } from './custom-id-codec.js';
import { statusOfErrorType, toChatCompletion, type AnthropicMessage } from './to-chat-completion.js';

/** The parts of an Anthropic `MessageBatch` kbatch reads. */
export interface AnthropicBatch {
  id: string;
  processing_status: string;
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  cancel_initiated_at: string | null;
  results_url: string | null;
}

/** The file ids of a batch's results: the succeeded lines (the output file) and the rest (the error file). */
export const RESULTS_PREFIX = 'anthropic-results:';
export const resultsFileId = (batchId: string, kind: 'output' | 'errors'): string => `${RESULTS_PREFIX}${batchId}:${kind}`;

/** The batch id and which lines a results file id names (null for another id). */
export function parseResultsFileId(id: string): { batchId: string; kind: 'output' | 'errors' } | null {
  const match = /^anthropic-results:(.+):(output|errors)$/.exec(id);
  return match ? { batchId: match[1]!, kind: match[2] as 'output' | 'errors' } : null;
}

const seconds = (iso: string | null): number | null => (iso === null ? null : Math.floor(Date.parse(iso) / 1000));

/**
 * The status in OpenAI's words: in_progress → in_progress, canceling → cancelling; ended → cancelled after a cancel,
 * expired when requests expired, else completed.
 */
export function batchStatus(batch: Pick<AnthropicBatch, 'processing_status' | 'cancel_initiated_at' | 'request_counts'>): string {
  if (batch.processing_status === 'in_progress') return 'in_progress';
  if (batch.processing_status === 'canceling') return 'cancelling';
  if (batch.processing_status !== 'ended') return batch.processing_status;
  if (batch.cancel_initiated_at !== null) return 'cancelled';
  return batch.request_counts.expired > 0 ? 'expired' : 'completed';
}

/**
 * The OpenAI-shaped batch: request_counts total = every request, completed = succeeded, failed = errored (canceled
 * and expired ones never ran, as OpenAI counts them); timestamps in unix seconds; results as two file ids once ended.
 */
export function toOpenAIBatch(batch: AnthropicBatch, inputFileId: string | null = null) {
  const c = batch.request_counts;
  const status = batchStatus(batch);
  const endedAt = seconds(batch.ended_at);
  const ended = batch.processing_status === 'ended';
  return {
    id: batch.id,
    object: 'batch' as const,
    endpoint: '/v1/chat/completions',
    input_file_id: inputFileId,
    completion_window: '24h',
    status,
    output_file_id: ended && c.succeeded > 0 ? resultsFileId(batch.id, 'output') : null,
    error_file_id: ended && c.errored + c.canceled + c.expired > 0 ? resultsFileId(batch.id, 'errors') : null,
    created_at: seconds(batch.created_at),
    in_progress_at: seconds(batch.created_at),
    expires_at: seconds(batch.expires_at),
    cancelling_at: seconds(batch.cancel_initiated_at),
    completed_at: status === 'completed' ? endedAt : null,
    expired_at: status === 'expired' ? endedAt : null,
    cancelled_at: status === 'cancelled' ? endedAt : null,
    request_counts: { total: c.processing + c.succeeded + c.errored + c.canceled + c.expired, completed: c.succeeded, failed: c.errored },
    metadata: null,
  };
}

/** One line of Anthropic's results JSONL. */
export interface AnthropicResultLine {
  custom_id: string;
  result:
    | { type: 'succeeded'; message: AnthropicMessage }
    | { type: 'errored'; error: { error?: { type?: string; message?: string }; type?: string; message?: string } }
    | { type: 'canceled' }
    | { type: 'expired' }
    | { type: string };
}

/**
 * A results line as an OpenAI batch result line: succeeded → `response` 200 with a chat.completion; errored → the
 * provider's error with its message and an HTTP-like status; expired/canceled → `error.code` batch_expired /
 * batch_cancelled with no response (as OpenAI-style servers mark requests that never ran), which kbatch resends; any
 * other type → `error.code` invalid_result_type naming it, never resent (it may have run and been billed).
 */
export function toOpenAIResultLine(line: AnthropicResultLine, created?: number): Record<string, unknown> {
  const custom_id = decodeCustomId(line.custom_id);
  const result = line.result;
  if (result.type === 'succeeded' && 'message' in result) {
    return { id: `batch_req_${result.message.id}`, custom_id, response: { status_code: 200, request_id: null, body: toChatCompletion(result.message, created) }, error: null };
  }
  if (result.type === 'errored') {
    const outer = ('error' in result && result.error) || {};
    const inner = outer.error ?? outer;
    const type = inner.type ?? 'api_error';
    const body = { error: { message: inner.message ?? type, type, param: null, code: type } };
    return { id: null, custom_id, response: { status_code: statusOfErrorType(type), request_id: null, body }, error: null };
  }
  if (result.type === 'expired') return { id: null, custom_id, response: null, error: { code: 'batch_expired', message: 'The batch expired (24h) before this request ran' } };
  if (result.type === 'canceled') return { id: null, custom_id, response: null, error: { code: 'batch_cancelled', message: 'The batch was cancelled before this request ran' } };
  const message = `Anthropic returned a result of type ${JSON.stringify(result.type)}, which kbatch does not know: not resent, as it may have run`;
  return { id: null, custom_id, response: null, error: { code: 'invalid_result_type', message } };
}
