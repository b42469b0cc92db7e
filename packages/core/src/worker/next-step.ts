// What a worker does after a step, decided from the step's outcome alone (pure: no queue, no database).
import { isKbatchError, type KbatchErrorCode } from '../errors.js';
import type { RunState } from '../state/run-state.js';

/** The phase a job is in when a step starts: what the step will do (for logs and `kbatch status`). */
export type StepName = 'prepare' | 'submit' | 'poll' | 'retry' | 'join' | 'done';

/**
 * The step's name from the job's run state: `submit` while nothing was sent, `poll` while round 0 runs, `retry` while
 * retry rounds remain, `join` once only the output is left, `done` when it is written.
 * @param sent - false while the job has sent nothing (see `nothingSent`)
 */
export function stepName(state: Pick<RunState, 'phase' | 'retriesDone'>, sent: boolean): StepName {
  if (state.phase === 'init') return 'prepare';
  if (state.phase === 'prepared') return sent ? 'poll' : 'submit';
  if (state.phase === 'submitted') return state.retriesDone ? 'join' : 'retry';
  return 'done';
}

/** How a step ended: the run finished, or it threw (a slice that ran out is AWAIT_TIMEOUT). */
export type StepOutcome = { kind: 'finished' } | { kind: 'error'; error: unknown };

/** What the worker does next with the job: nothing (done), its next step after a delay, or fail this step. */
export type StepPlan =
  | { action: 'done' }
  | { action: 'requeue'; delayMs: number; reason: 'running' | 'locked' | 'stopped' | 'lost' }
  | { action: 'fail'; retry: boolean; code: string; message: string };

/** The delays {@link planStep} uses. */
export interface StepDelays {
  /** After a slice ran out with batches still running: the next look (the job's poll interval). */
  pollMs: number;
  /** After JOB_LOCKED: another process drives the job (a user's `kbatch resume`, or an expired step still running). */
  lockedMs: number;
}

// A retry cannot change these: the job, its options or its input must change first (or a person must look).
const PERMANENT: ReadonlySet<KbatchErrorCode> = new Set<KbatchErrorCode>([
  'OPTION_INVALID',
  'INPUT_NOT_FOUND',
  'INPUT_FORMAT_UNKNOWN',
  'INPUT_ENCODING',
  'RECORD_INVALID',
  'TEMPLATE_INVALID',
  'TEMPLATE_FIELD_MISSING',
  'CUSTOM_ID_MISSING',
  'CUSTOM_ID_DUPLICATE',
  'LINE_TOO_LARGE',
  'LINE_OVER_TOKEN_BUDGET',
  'PARAM_UNSUPPORTED',
  'BUDGET_EXCEEDED',
  'COST_UNKNOWN',
  'API_KEY_MISSING',
  'JOB_NOT_FOUND',
  'JOB_INVALID',
  'JOB_MISMATCH',
  'ADOPTION_UNCERTAIN',
  'OUTPUT_UNWRITABLE',
  'SCHEMA_INVALID',
  'JOIN_FIELD_COLLISION',
]);

/**
 * The next move for a step's outcome: a finished run is done; a slice that ran out (AWAIT_TIMEOUT) looks again after
 * the poll interval; a job another process holds (JOB_LOCKED) is tried again later; a stopped worker (`stopping`)
 * hands the step back at once, and so does one whose lease was lost (`lost`: the queue keeps the job's live row);
 * any other error fails the step, retried by the queue unless a retry cannot change it.
 * @example planStep({ kind: 'error', error: new KbatchError('AWAIT_TIMEOUT', '…') }, { pollMs: 30_000, lockedMs: 5_000 }) // requeue in 30 s
 */
export function planStep(outcome: StepOutcome, delays: StepDelays, stopping = false, lost = false): StepPlan {
  if (outcome.kind === 'finished') return { action: 'done' };
  // Its lease ran out and the step is queued again or another worker's: whatever this slice ended with, the queue's row goes on.
  if (lost) return { action: 'requeue', delayMs: 0, reason: 'lost' };
  const { error } = outcome;
  const code = isKbatchError(error) ? error.code : 'INTERNAL';
  // Aborted by the worker's own stop: its state is saved as on any interrupt; another worker takes it now.
  if (stopping && (code === 'ABORTED' || code === 'AWAIT_TIMEOUT')) return { action: 'requeue', delayMs: 0, reason: 'stopped' };
  if (code === 'AWAIT_TIMEOUT') return { action: 'requeue', delayMs: delays.pollMs, reason: 'running' };
  if (code === 'JOB_LOCKED') return { action: 'requeue', delayMs: delays.lockedMs, reason: 'locked' };
  const message = error instanceof Error ? error.message : String(error);
  const status = httpStatus(error);
  if (status !== undefined) return { action: 'fail', retry: !NOT_RETRIED_STATUS.has(status), code: `HTTP_${status}`, message };
  return { action: 'fail', retry: !PERMANENT.has(code as KbatchErrorCode), code, message };
}

// The provider refused the request itself (a wrong key, no access, a bad request): the same step fails the same way.
const NOT_RETRIED_STATUS: ReadonlySet<number> = new Set([400, 401, 403, 404, 405, 410, 413, 415, 422]);

/** The HTTP status of a provider's error (the openai SDK's APIError has `status`), else undefined. */
function httpStatus(error: unknown): number | undefined {
  const status = typeof error === 'object' && error !== null && !isKbatchError(error) ? (error as { status?: unknown }).status : undefined;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : undefined;
}
