import { BATCH_NO_CAUSE_CODE } from '../../job/validation-results.js';

/**
 * A Together batch as its API sends it (together-ai 0.52 `BatchJob`; https://docs.together.ai/reference/batch-create):
 * ISO timestamps, upper-case status, `progress` 0–100, `error` as one string; no request counts, no metadata.
 */
export interface TogetherBatchJob {
  id?: string;
  input_file_id?: string;
  file_size_bytes?: number;
  status?: string;
  output_file_id?: string | null;
  error_file_id?: string | null;
  error?: string | null;
  created_at?: string;
  completed_at?: string | null;
  job_deadline?: string | null;
  endpoint?: string;
  progress?: number;
  model_id?: string | null;
}

/**
 * Together's statuses (https://docs.together.ai/docs/inference/batch/manage) in OpenAI's batch vocabulary.
 * CANCELLING is not documented: kept as OpenAI's `cancelling` should it appear.
 */
const STATUSES: Readonly<Record<string, string>> = {
  VALIDATING: 'validating',
  IN_PROGRESS: 'in_progress',
  CANCELLING: 'cancelling',
  COMPLETED: 'completed',
  FAILED: 'failed',
  EXPIRED: 'expired',
  CANCELLED: 'cancelled',
};

/** Together's final statuses: after them only the result files say what ran (it sends no request counts). */
const FINAL = new Set(['COMPLETED', 'FAILED', 'EXPIRED', 'CANCELLED']);

/**
 * Whether a Together batch may have answered requests (and been paid for them): its progress is not 0. Without a
 * progress, a FAILED batch with its own error failed as a whole (e.g. validation) and ran nothing. `status` in either
 * case (Together's or OpenAI's).
 */
export function mayHaveRun(job: Pick<TogetherBatchJob, 'status' | 'progress' | 'error'>): boolean {
  if (typeof job.progress === 'number') return job.progress !== 0;
  return !((job.status ?? '').toUpperCase() === 'FAILED' && job.error);
}

/**
 * A Together status as an OpenAI batch status; an unknown one passes through lower-cased (kbatch reads unknown
 * statuses as running). A final batch that names no result file yet, unless its progress says nothing ran, reads
 * `finalizing`: without request counts only its files say what was answered (and paid), so kbatch keeps polling until
 * one is named rather than read answered requests as never run and send them again. A batch that names its error file
 * but not (yet) its output file is judged by its error lines instead (see {@link togetherResultFilesComplete}).
 */
export function batchStatus(job: Pick<TogetherBatchJob, 'status' | 'output_file_id' | 'error_file_id' | 'progress' | 'error'>): string {
  const status = (job.status ?? 'VALIDATING').toUpperCase();
  if (FINAL.has(status) && !job.output_file_id && !job.error_file_id && mayHaveRun(job)) return 'finalizing';
  return STATUSES[status] ?? status.toLowerCase();
}

const seconds = (time: string | null | undefined): number | null => {
  const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
};

/**
 * A Together BatchJob as an OpenAI batch object. `request_counts` are zeros (Together sends none; kbatch's wait and
 * finish read the result files instead), `metadata` is null (Together keeps none: a lost create is found by its
 * `input_file_id`), the end time goes to the field of the end status, and `error` becomes a batch-level error without
 * a code ({@link BATCH_NO_CAUSE_CODE}: nothing says the batch would fail again).
 */
export function toOpenAiBatch(job: TogetherBatchJob): Record<string, unknown> {
  const status = batchStatus(job);
  const end = seconds(job.completed_at);
  return {
    id: job.id,
    object: 'batch',
    endpoint: job.endpoint ?? '/v1/chat/completions',
    status,
    model: job.model_id ?? null,
    input_file_id: job.input_file_id ?? null,
    completion_window: '24h',
    output_file_id: job.output_file_id || null,
    error_file_id: job.error_file_id || null,
    created_at: seconds(job.created_at),
    expires_at: seconds(job.job_deadline),
    completed_at: status === 'completed' ? end : null,
    failed_at: status === 'failed' ? end : null,
    expired_at: status === 'expired' ? end : null,
    cancelled_at: status === 'cancelled' ? end : null,
    request_counts: { total: 0, completed: 0, failed: 0 },
    errors: job.error ? { object: 'list', data: [{ code: BATCH_NO_CAUSE_CODE, message: job.error, line: null }] } : null,
    metadata: null,
    progress: job.progress ?? null,
  };
}
