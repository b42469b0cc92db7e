/**
 * One result line, in the reference's "request output object" shape, so the batch join consumes
 * realtime results unchanged. HTTP failures keep their status code and error body in `response`;
 * failures without an HTTP response (dropped connection, timeout) set `response: null` and `error`.
 */
export type { BatchResultLine as RealtimeResultLine } from '../job/job-types.js';

/** Why an attempt is retried (or why it finally failed). */
export type FailureKind = 'rate_limited' | 'server_error' | 'connection_error' | 'timeout' | 'client_error';

/** Progress events, for CLI progress lines and for tests that observe retries and adaptation. */
export type RealtimeEvent =
  | { type: 'retry'; customId: string; attempt: number; delayMs: number; kind: FailureKind; status?: number }
  | { type: 'concurrency'; limit: number }
  | { type: 'answered'; customId: string; replayed: boolean }
  /** A final failure; `replayed` when it was logged by an earlier, interrupted run of the same round (not sent again). */
  | { type: 'failed'; customId: string; kind: FailureKind; status?: number; replayed?: boolean };
