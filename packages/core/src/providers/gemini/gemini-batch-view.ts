import { BATCH_NO_CAUSE_CODE } from '../../job/validation-results.js';
import { MODEL_MARK } from './upload-gemini-input.js';
import { statusNameOf, type GoogleStatus } from './google-status.js';

/** What {@link toOpenAiBatch} reads of a Gemini batch Operation (`GET /v1beta/batches/{id}` as sent on the wire). */
export interface GeminiOperation {
  name?: string;
  metadata?: {
    name?: string;
    displayName?: string;
    model?: string;
    state?: string;
    createTime?: string;
    updateTime?: string;
    endTime?: string;
    batchStats?: { requestCount?: string | number; successfulRequestCount?: string | number; failedRequestCount?: string | number; pendingRequestCount?: string | number };
    inputConfig?: { fileName?: string };
    output?: { responsesFile?: string };
  };
  done?: boolean;
  /** A google.rpc.Status: `code` is an rpc code (13 = INTERNAL), the `status` name often absent. */
  error?: GoogleStatus;
  response?: { responsesFile?: string };
}

// Wire states (BATCH_STATE_*) and @google/genai's renamed ones (JOB_STATE_*) in OpenAI's batch vocabulary.
const STATES: Readonly<Record<string, string>> = {
  UNSPECIFIED: 'validating',
  PENDING: 'validating',
  QUEUED: 'validating',
  RUNNING: 'in_progress',
  PAUSED: 'in_progress',
  CANCELLING: 'cancelling',
  SUCCEEDED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  EXPIRED: 'expired',
};

/** A Gemini batch state (`BATCH_STATE_RUNNING`, or the SDK's `JOB_STATE_RUNNING`) as an OpenAI batch status; an unknown one passes through (kbatch reads unknown statuses as running). */
export function batchStatus(state: string | undefined): string {
  const short = (state ?? 'UNSPECIFIED').replace(/^(BATCH|JOB)_STATE_/, '');
  return STATES[short] ?? state!.toLowerCase();
}

/** The marker of the older, query-string form of a displayName carrying metadata (still read: batches made by earlier versions). */
const TAG = 'kbatch?';
/** The marker of the short form: `kbatch:<job>:<chunk>:<sha256 as base64url>`. */
const SHORT_TAG = 'kbatch:';
/** Longest displayName kbatch sends: Gemini documents no limit, research suggests at most 128 characters are kept. */
export const MAX_DISPLAY_NAME = 128;

const isPartMetadata = (m: Record<string, string>): boolean =>
  Object.keys(m).length === 3 && /^[0-9a-f]{64}$/.test(m['kbatch_sha256'] ?? '') && /^[^:]+$/.test(m['kbatch_chunk'] ?? '') && (m['kbatch_job'] ?? '') !== '';

/**
 * Batch metadata as a Gemini `displayName` (Gemini batches have no metadata; the name is returned by get and list).
 * A part's metadata (`kbatch_job`, `kbatch_chunk`, `kbatch_sha256`) takes the short, lossless form (about 80
 * characters: adoption compares it exactly); any other metadata the query-string form.
 */
export function metadataToDisplayName(metadata: Record<string, string> | undefined): string {
  if (!metadata || Object.keys(metadata).length === 0) return 'kbatch';
  if (!isPartMetadata(metadata)) return `${TAG}${new URLSearchParams(metadata).toString()}`;
  const sha = Buffer.from(metadata['kbatch_sha256']!, 'hex').toString('base64url');
  return `${SHORT_TAG}${metadata['kbatch_job']}:${metadata['kbatch_chunk']}:${sha}`;
}

/** The metadata a displayName made by {@link metadataToDisplayName} (either form) carries; null for any other name. */
export function displayNameToMetadata(name: string | undefined): Record<string, string> | null {
  if (typeof name !== 'string') return null;
  if (name.startsWith(TAG)) return Object.fromEntries(new URLSearchParams(name.slice(TAG.length)));
  const short = name.startsWith(SHORT_TAG) ? /^(.+):([^:]+):([A-Za-z0-9_-]{43})$/.exec(name.slice(SHORT_TAG.length)) : null;
  if (short === null) return null;
  return { kbatch_job: short[1]!, kbatch_chunk: short[2]!, kbatch_sha256: Buffer.from(short[3]!, 'base64url').toString('hex') };
}

/** The id of the error view of a responses file (its failed lines), as `error_file_id`. */
export const ERRORS_VIEW = '#errors';

/** A batch's input file in the id form kbatch records and files.list gives (`files/ID#model=MODEL`), so cleanup sees it in use. */
const inputFileId = (fileName: string | undefined, model: string | undefined): string | null => {
  if (fileName === undefined) return null;
  const file = fileName.startsWith('files/') ? fileName : `files/${fileName}`;
  return model === undefined ? file : `${file}${MODEL_MARK}${model}`;
};

const count = (v: string | number | undefined): number => (v === undefined ? 0 : Number(v) || 0);
const seconds = (time: string | undefined): number | null => {
  const ms = time === undefined ? Number.NaN : Date.parse(time);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
};

/**
 * A Gemini batch Operation as an OpenAI batch object: status from the state, request_counts from batchStats,
 * metadata from the displayName, `output_file_id` = the responses file (its successful lines) and `error_file_id`
 * = its error view when some requests failed, `errors` from the operation's error (its status name, from the rpc
 * code when absent, so a transient INTERNAL is resent; with neither, BATCH_NO_CAUSE_CODE — never BATCH_FAILED_CODE,
 * which kbatch reads as final).
 */
export function toOpenAiBatch(op: GeminiOperation): Record<string, unknown> {
  const meta = op.metadata ?? {};
  const status = batchStatus(meta.state);
  const stats = meta.batchStats ?? {};
  const responses = meta.output?.responsesFile ?? op.response?.responsesFile ?? null;
  const failed = count(stats.failedRequestCount);
  const end = seconds(meta.endTime);
  const model = meta.model?.replace(/^models\//, '');
  return {
    id: op.name ?? meta.name,
    object: 'batch',
    endpoint: '/v1/chat/completions',
    status,
    model,
    input_file_id: inputFileId(meta.inputConfig?.fileName, model),
    completion_window: '24h',
    output_file_id: responses,
    error_file_id: responses !== null && failed > 0 ? `${responses}${ERRORS_VIEW}` : null,
    created_at: seconds(meta.createTime),
    completed_at: status === 'completed' ? end : null,
    failed_at: status === 'failed' ? end : null,
    cancelled_at: status === 'cancelled' ? end : null,
    expired_at: status === 'expired' ? end : null,
    request_counts: { total: count(stats.requestCount), completed: count(stats.successfulRequestCount), failed },
    errors: op.error ? { object: 'list', data: [{ code: statusNameOf(op.error)?.toLowerCase() ?? BATCH_NO_CAUSE_CODE, message: op.error.message ?? null, line: null }] } : null,
    metadata: displayNameToMetadata(meta.displayName),
    display_name: meta.displayName ?? null,
  };
}
