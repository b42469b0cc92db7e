import { describe, expect, it } from 'vitest';
import { APIConnectionError, APIError, APIUserAbortError, BadRequestError, RateLimitError } from 'openai';
import { backoffDelay, isTransientError, retryAfterMs, sleep } from '../../src/client/retry.js';
import { KbatchError } from '../../src/errors.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('isTransientError', () => {
  it('retries 429, 5xx, connection drops and timeouts but not 4xx or aborts', () => {
    const headers = new Headers();
    expect(isTransientError(new RateLimitError(429, {}, 'slow down', headers))).toBe(true);
    expect(isTransientError(APIError.generate(503, {}, 'down', headers))).toBe(true);
    expect(isTransientError(new APIConnectionError({ message: 'drop' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransientError(new TypeError('terminated'))).toBe(true);
    expect(isTransientError(new BadRequestError(400, {}, 'bad', headers))).toBe(false);
    expect(isTransientError(new APIUserAbortError())).toBe(false);
    expect(isTransientError(new KbatchError('RESPONSE_INVALID', 'x'))).toBe(false);
    expect(isTransientError(new Error('boom'))).toBe(false);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds from Retry-After', () => {
    const err = new RateLimitError(429, {}, 'slow', new Headers({ 'retry-after': '2' }));
    expect(retryAfterMs(err)).toBe(2000);
    expect(retryAfterMs(new Error('x'))).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('grows exponentially with jitter and is capped', () => {
    expect(backoffDelay(0, { baseMs: 100, random: () => 1 })).toBe(100);
    expect(backoffDelay(3, { baseMs: 100, random: () => 0 })).toBe(400);
    expect(backoffDelay(20, { baseMs: 100, maxMs: 1000, random: () => 1 })).toBe(1000);
  });
});

describe('sleep', () => {
  it('rejects with ABORTED when the signal fires', async () => {
    const controller = new AbortController();
    const p = sleep(10_000, controller.signal);
    controller.abort();
    expectKbatchError(await catchError(() => p), { code: 'ABORTED' });
  });
});
