// Together's Batch API objects as its API sends them (together-ai SDK 0.52 `BatchJob`, `FileResponse`; docs below).
import type { BatchObject, BatchStatus, FileObject } from '../store.js';

/**
 * Together's upper-case statuses (https://docs.together.ai/docs/inference/batch/manage). It documents no FINALIZING
 * or CANCELLING: a batch in either is still running, so it reads IN_PROGRESS until it ends.
 */
const STATUS: Readonly<Record<BatchStatus, string>> = {
  validating: 'VALIDATING',
  in_progress: 'IN_PROGRESS',
  finalizing: 'IN_PROGRESS',
  cancelling: 'IN_PROGRESS',
  completed: 'COMPLETED',
  failed: 'FAILED',
  expired: 'EXPIRED',
  cancelled: 'CANCELLED',
};

/** Purposes Together's files take (`FilePurpose`); a batch needs `batch-api`. */
export const TOGETHER_PURPOSES = ['fine-tune', 'eval', 'batch-api'];

const iso = (seconds: number | null): string | undefined => (seconds === null ? undefined : new Date(seconds * 1000).toISOString());

/**
 * A batch as Together's `BatchJob`: ISO timestamps, upper-case status, `progress` (0–100) instead of request counts,
 * `error` as one string, no metadata. Absent ids are left out (the SDK types them optional).
 */
export function batchJobView(b: BatchObject, fileSizeBytes: number | undefined): Record<string, unknown> {
  const c = b.request_counts;
  const ended = b.completed_at ?? b.failed_at ?? b.expired_at ?? b.cancelled_at;
  return {
    id: b.id,
    user_id: 'emulator-user',
    input_file_id: b.input_file_id,
    ...(fileSizeBytes === undefined ? {} : { file_size_bytes: fileSizeBytes }),
    status: STATUS[b.status],
    ...(b.output_file_id ? { output_file_id: b.output_file_id } : {}),
    ...(b.error_file_id ? { error_file_id: b.error_file_id } : {}),
    ...(b.errors?.data[0] ? { error: b.errors.data[0].message } : {}),
    created_at: iso(b.created_at),
    ...(ended === null ? {} : { completed_at: iso(ended) }),
    job_deadline: iso(b.expires_at),
    endpoint: b.endpoint,
    progress: c.total === 0 ? 0 : Math.round(((c.completed + c.failed) / c.total) * 10_000) / 100,
  };
}

/** A file as Together's `FileResponse` (created_at in seconds, `FileType`, the deprecated `Processed`). */
export function togetherFileView(f: FileObject): Record<string, unknown> {
  const type = /\.(jsonl|csv|parquet)$/.exec(f.filename)?.[1] ?? 'jsonl';
  return { id: f.id, object: 'file', bytes: f.bytes, created_at: f.created_at, filename: f.filename, purpose: f.purpose, FileType: type, Processed: true };
}
