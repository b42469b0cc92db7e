import type OpenAI from 'openai';
import type { UploadClient, UploadFileOptions } from '../client/upload-file.js';
import type { KBatch, KFile } from '../client/schemas.js';
import type { LineError } from '../state/manifest.js';
import type { KbatchErrorCode } from '../errors.js';

/** The client capabilities a job needs (an openai client from createKlusterClient() has them all). */
export type JobClient = UploadClient & {
  batches: Pick<OpenAI['batches'], 'create' | 'retrieve' | 'list' | 'cancel'>;
  /** `delete` and `list` clean up uploaded input files (skipped when the client lacks them). */
  files: Pick<OpenAI['files'], 'content'> & Partial<Pick<OpenAI['files'], 'delete' | 'list'>>;
  /**
   * How a native provider adapter takes a chunk file (converting it to its own wire format, or staging it for an
   * inline create); absent on OpenAI-shaped clients, whose chunks go through `uploadFile`. Same contract: the
   * returned id is what `batches.create` gets as `input_file_id`.
   */
  uploadBatchInput?: (path: string, options: UploadFileOptions) => Promise<KFile>;
  /** The id `batches.create` gets for a recorded one: a staged chunk's relative path resolved against the job directory now (sha256: the part's). */
  resolveInputFileId?: (fileId: string, where: { jobDir: string; chunkPath?: string; sha256?: string }) => string | Promise<string>;
  /** False on a provider whose batches carry no metadata (Anthropic): a lost create is found by count, time and results. */
  batchMetadata?: boolean;
  /**
   * True on a provider without metadata whose batches name their input file (Together): a lost create is found as the
   * batch whose `input_file_id` is the part's recorded upload (kbatch records it before any create; one file, one batch).
   */
  batchInputFile?: boolean;
  /**
   * False while an ended batch's result files may not all be named yet (Together, which sends no request counts: a
   * batch naming only its error file whose lines do not answer the chunk's `requests`). kbatch then keeps polling,
   * and stops with BATCH_OUTPUT_MISSING after `resultFileGraceMs` rather than send answered requests again. Absent: true.
   */
  resultFilesComplete?: (batch: KBatch, expected: { requests: number; signal?: AbortSignal }) => Promise<boolean>;
  /** True when every result of an ended batch carries the tag of the chunk whose sha256 is given (proof it answers it). */
  batchInputMatches?: (batchId: string, sha256: string, options?: { signal?: AbortSignal }) => Promise<boolean>;
};

/** Live counts of one part. */
export interface PartProgress {
  index: string;
  batchId?: string;
  status: string;
  total: number;
  completed: number;
  failed: number;
}

/** What a job reports while it runs (rendered by the CLI as a bar, plain lines or JSON lines). */
export type JobEvent =
  | { type: 'job'; jobId: string; jobDir: string; parts: number; requests: number; resumed: boolean }
  | { type: 'uploaded'; part: string; fileId: string; bytes: number }
  | { type: 'created'; part: string; batchId: string; adopted: boolean }
  | {
      type: 'progress';
      jobId: string;
      elapsedMs: number;
      total: number;
      completed: number;
      failed: number;
      parts: PartProgress[];
      /** Set during a `runJob` retry round: the counts and parts are that round's alone (its requests are `total`). */
      round?: number;
    }
  | {
      type: 'finished';
      part: string;
      batchId: string;
      status: string;
      succeeded: number;
      failed: number;
      unresolved: number;
      /** A batch that failed validation: why, per error code (first message, requests it names; `requests` is 0 for a file-level error). */
      causes?: Array<{ code: string | null; message: string | null; requests: number }>;
      /** A batch that failed validation: its first few line errors (line in the chunk file, custom_id, code, message). */
      lineErrors?: LineError[];
    }
  | { type: 'resubmitted'; part: string; newPart: string; requests: number }
  /** kbatch cancels a stalled batch to finish its last `remaining` requests elsewhere (realtime); `message` says so. */
  | { type: 'stragglers'; part: string; batchId: string; remaining: number; total: number; idleMs: number; message: string }
  | { type: 'retry'; operation: string; part?: string; attempt: number; delayMs: number; message: string }
  | { type: 'warning'; part?: string; message: string };

/** A job's outcome, from its manifest. */
export interface JobSummary {
  jobId: string;
  jobDir: string;
  /** running: not finished yet; completed: every request succeeded; partial: some failed or are missing; cancelled. */
  state: 'running' | 'completed' | 'partial' | 'failed' | 'cancelled';
  requests: number;
  succeeded: number;
  failed: number;
  /** Requests with no result (yet). */
  pending: number;
  parts: Array<
    PartProgress & {
      kind: string;
      requests: number;
      done: boolean;
      resubmittedAs?: string;
      lineErrors: number;
      /** kbatch cancelled this batch for its stalled last requests (finished realtime by `kbatch run`). */
      straggler?: boolean;
      /** Why a finished part's batch did not complete: BATCH_FAILED, BATCH_EXPIRED or BATCH_CANCELLED. */
      code?: Extract<KbatchErrorCode, 'BATCH_FAILED' | 'BATCH_EXPIRED' | 'BATCH_CANCELLED'>;
    }
  >;
  /**
   * Validation errors of failed batches (first 100): `line` is the request's line in its chunk file
   * (`chunks/part-N.jsonl`), `customId` the request's custom_id, which names the input row it was made from.
   */
  lineErrors: Array<LineError & { part: string }>;
}

/**
 * One line of a batch output or error file (the reference's "request output object"); realtime results are written
 * in the same shape (`RealtimeResultLine` is this type), and `parseResultLine` turns one into a `BatchResult`.
 */
export interface BatchResultLine {
  id?: string;
  custom_id: string;
  response: { status_code: number; request_id?: string | null; body: unknown } | null;
  error: { code?: string; message?: string } | null;
}
