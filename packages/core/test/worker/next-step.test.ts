import { describe, expect, it } from 'vitest';
import { KbatchError } from '../../src/errors.js';
import { planStep, stepName } from '../../src/worker/next-step.js';

const delays = { pollMs: 15_000, lockedMs: 5_000 };
const failed = (code: ConstructorParameters<typeof KbatchError>[0]) => ({ kind: 'error' as const, error: new KbatchError(code, `${code} happened`) });

describe('stepName', () => {
  it('names a step by the phase its job is in: prepare, submit while nothing was sent, poll, retry, join, done', () => {
    expect(stepName({ phase: 'init', retriesDone: false }, false)).toBe('prepare');
    expect(stepName({ phase: 'prepared', retriesDone: false }, false)).toBe('submit');
    expect(stepName({ phase: 'prepared', retriesDone: false }, true)).toBe('poll');
    expect(stepName({ phase: 'submitted', retriesDone: false }, true)).toBe('retry');
    expect(stepName({ phase: 'submitted', retriesDone: true }, true)).toBe('join');
    expect(stepName({ phase: 'joined', retriesDone: true }, true)).toBe('done');
  });
});

describe('planStep', () => {
  it('is done when the run finished', () => {
    expect(planStep({ kind: 'finished' }, delays)).toEqual({ action: 'done' });
  });

  it('queues the next step after the poll interval when the slice ran out with batches running (AWAIT_TIMEOUT)', () => {
    expect(planStep(failed('AWAIT_TIMEOUT'), delays)).toEqual({ action: 'requeue', delayMs: 15_000, reason: 'running' });
  });

  it('queues the next step after a delay when another process holds the job (JOB_LOCKED)', () => {
    expect(planStep(failed('JOB_LOCKED'), delays)).toEqual({ action: 'requeue', delayMs: 5_000, reason: 'locked' });
  });

  it('hands the step back at once when the worker stops it (ABORTED or a slice cut short while stopping)', () => {
    expect(planStep(failed('ABORTED'), delays, true)).toEqual({ action: 'requeue', delayMs: 0, reason: 'stopped' });
    expect(planStep(failed('AWAIT_TIMEOUT'), delays, true)).toEqual({ action: 'requeue', delayMs: 0, reason: 'stopped' });
  });

  it('still fails a step the worker was stopping (its lease cap, say) when it ended with an error of its own', () => {
    expect(planStep(failed('INTERNAL'), delays, true)).toMatchObject({ action: 'fail', retry: true, code: 'INTERNAL' });
  });

  it('fails the step for good when a retry cannot change the error (BUDGET_EXCEEDED, JOB_MISMATCH, API_KEY_MISSING, …)', () => {
    for (const code of ['BUDGET_EXCEEDED', 'JOB_MISMATCH', 'API_KEY_MISSING', 'JOB_NOT_FOUND', 'OPTION_INVALID'] as const) {
      expect(planStep(failed(code), delays)).toEqual({ action: 'fail', retry: false, code, message: `${code} happened` });
    }
  });

  it('fails the step to be retried by the queue for a transient error (DATABASE_UNAVAILABLE, JOB_LOCK_LOST, an HTTP error, an ABORTED not of its own)', () => {
    // STATE_SCHEMA_NEWER: a worker not yet upgraded beside one that migrated the schema; a retry finds an upgraded worker.
    for (const code of ['DATABASE_UNAVAILABLE', 'JOB_LOCK_LOST', 'STATE_CONFLICT', 'ABORTED', 'STATE_SCHEMA_NEWER'] as const) {
      expect(planStep(failed(code), delays)).toMatchObject({ action: 'fail', retry: true, code });
    }
    expect(planStep({ kind: 'error', error: new Error('socket hang up') }, delays)).toEqual({ action: 'fail', retry: true, code: 'INTERNAL', message: 'socket hang up' });
    expect(planStep({ kind: 'error', error: 'a thrown string' }, delays)).toEqual({ action: 'fail', retry: true, code: 'INTERNAL', message: 'a thrown string' });
  });

  it('fails the step for good when the provider refused the request itself (401 wrong key, 403, 400, 404), and retries 429 and 5xx', () => {
    const http = (status: number) => ({ kind: 'error' as const, error: Object.assign(new Error(`${status} from the provider`), { status }) });
    for (const status of [400, 401, 403, 404, 422]) {
      expect(planStep(http(status), delays)).toEqual({ action: 'fail', retry: false, code: `HTTP_${status}`, message: `${status} from the provider` });
    }
    for (const status of [408, 409, 429, 500, 503]) expect(planStep(http(status), delays)).toMatchObject({ action: 'fail', retry: true, code: `HTTP_${status}` });
  });
});
