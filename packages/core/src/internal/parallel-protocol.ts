// Messages between the parallel prepare (main thread) and its workers.
import type { KbatchErrorCode, KbatchErrorContext } from '../errors.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { RequestOptions } from '../request/request-options.js';

export interface WorkerInit {
  type: 'init';
  file: string;
  format: 'csv' | 'tsv' | 'jsonl';
  delimiter: string | undefined;
  onInvalidRecord: 'error' | 'skip';
  request: RequestOptions;
}

export interface PieceMessage {
  type: 'piece';
  seq: number;
  /** Whole lines of input (the last piece may end without a newline). */
  bytes: Uint8Array;
  final: boolean;
  firstIndex: number;
  firstLine: number;
  header: string[] | undefined;
}

export type WorkerReply =
  | { type: 'parsed'; seq: number; consumed: number; nextIndex: number; nextLine: number; header: string[] | undefined }
  | { type: 'encoded'; seq: number; out: Uint8Array; written: number; rejects: RejectedRecord[] }
  | { type: 'error'; seq: number; error: { code?: KbatchErrorCode; message: string; context?: KbatchErrorContext } };
