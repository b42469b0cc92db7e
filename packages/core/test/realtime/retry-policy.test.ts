import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { backoffDelay, classifyFailure, parseRetryAfter, retryDelay, type FailureInfo } from '../../src/realtime/retry-policy.js';

const httpError = (status: number, headers: Record<string, string> = {}) =>
  APIError.generate(status, { error: { message: 'x' } }, 'x', new Headers(headers));

describe('classifyFailure', () => {
  it('retries 429 with its Retry-After, 5xx, 408 and 409', () => {
    expect(classifyFailure(httpError(429, { 'retry-after': '2' }))).toEqual({ kind: 'rate_limited', retryable: true, status: 429, retryAfterMs: 2000 });
    expect(classifyFailure(httpError(503))).toMatchObject({ kind: 'server_error', retryable: true, status: 503 });
    expect(classifyFailure(httpError(408))).toMatchObject({ retryable: true });
    expect(classifyFailure(httpError(409))).toMatchObject({ retryable: true });
  });

  it('retries dropped connections and timeouts', () => {
    expect(classifyFailure(new APIConnectionError({ message: 'socket hang up' }))).toEqual({ kind: 'connection_error', retryable: true });
    expect(classifyFailure(new APIConnectionTimeoutError())).toEqual({ kind: 'timeout', retryable: true });
  });

  it('does not retry other 4xx', () => {
    expect(classifyFailure(httpError(400))).toEqual({ kind: 'client_error', retryable: false, status: 400 });
    expect(classifyFailure(httpError(401))).toMatchObject({ retryable: false });
  });
});

describe('parseRetryAfter', () => {
  it('reads retry-after-ms, retry-after seconds and HTTP dates', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(parseRetryAfter({ 'retry-after': '1.5' })).toBe(1500);
    expect(parseRetryAfter(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6_000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('draws full jitter below an exponentially growing, capped ceiling', () => {
    const options = { baseMs: 100, maxMs: 1000, random: () => 0.999999 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, options))).toEqual([99, 199, 399, 799, 999]); // half-open: never the ceiling itself
    expect(backoffDelay(3, { ...options, random: () => 0 })).toBe(0);
  });

  it('waits at least the server-given Retry-After', () => {
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000, retryAfterMs: 3000, random: () => 0 })).toBe(3000);
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1000, retryAfterMs: 3000, random: () => 0.5 })).toBe(3050);
  });
});

describe('backoffDelay with a Retry-After', () => {
  it('adds at most a tenth of the Retry-After as jitter (and never more than the backoff base)', () => {
    const options = { baseMs: 500, maxMs: 30_000, retryAfterMs: 1000 };
    expect(backoffDelay(1, { ...options, random: () => 0 })).toBe(1000);
    expect(backoffDelay(1, { ...options, random: () => 0.999999 })).toBe(1099);
    expect(backoffDelay(4, { ...options, retryAfterMs: 60_000, random: () => 0.999999 })).toBe(60_499);
  });

  it('backs off fully on top of a Retry-After below the jitter floor (a tenth of the base), so "retry-after: 0" is no busy loop', () => {
    const options = { baseMs: 500, maxMs: 30_000, random: () => 0.999999 };
    expect([1, 2, 3].map((n) => backoffDelay(n, { ...options, retryAfterMs: 0 }))).toEqual([499, 999, 1999]);
    expect(backoffDelay(3, { ...options, retryAfterMs: 49 })).toBe(2048);
    expect(backoffDelay(3, { ...options, retryAfterMs: 50 })).toBe(54); // at the floor: honoured, plus a tenth
    expect(backoffDelay(3, { ...options, retryAfterMs: 0, random: () => 0 })).toBe(0);
  });
});

describe('retryDelay', () => {
  const drop: FailureInfo = { kind: 'connection_error', retryable: true };
  const options = { baseMs: 500, maxMs: 30_000, random: () => 0.999999, frequent: false, runDrops: 1 };

  it("retries a request's first dropped connection within 50 ms, whatever the attempt", () => {
    expect(retryDelay(1, drop, { ...options, drops: 1 })).toBe(49); // [0, 50): never 50
    expect(retryDelay(4, drop, { ...options, drops: 1 })).toBe(49);
    expect(retryDelay(1, drop, { ...options, baseMs: 10, drops: 1 })).toBe(9);
    expect(retryDelay(1, drop, { ...options, drops: 1, random: () => 0.99999999999 })).toBeLessThan(50);
  });

  it('backs off further drops by their own count, not the attempt number', () => {
    expect(retryDelay(5, drop, { ...options, drops: 2 })).toBe(999);
    expect(retryDelay(3, drop, { ...options, drops: 3 })).toBe(1999);
    expect(retryDelay(5, drop, { ...options, drops: 3, random: () => 0 })).toBe(0);
  });

  it("backs off even a request's first drop by the run's consecutive drops while drops are frequent in the run", () => {
    expect(retryDelay(1, drop, { ...options, drops: 1, frequent: false, runDrops: 6 })).toBe(49); // sporadic: prompt
    expect(retryDelay(1, drop, { ...options, drops: 1, frequent: true, runDrops: 1 })).toBe(49); // one drop alone: prompt
    expect(retryDelay(1, drop, { ...options, drops: 1, frequent: true, runDrops: 4 })).toBe(3999);
    expect(retryDelay(1, drop, { ...options, drops: 3, frequent: true, runDrops: 2 })).toBe(1999); // the larger count
    expect(retryDelay(1, drop, { ...options, drops: 1, frequent: true, runDrops: 40 })).toBe(29_999); // capped
  });

  it('waits the Retry-After (plus at most a tenth) on a 429 and backs off other failures by attempt', () => {
    expect(retryDelay(2, { kind: 'rate_limited', retryable: true, status: 429, retryAfterMs: 2000 }, { ...options, drops: 1 })).toBe(2199);
    expect(retryDelay(3, { kind: 'server_error', retryable: true, status: 503 }, { ...options, drops: 1 })).toBe(1999);
    expect(retryDelay(2, { kind: 'timeout', retryable: true }, { ...options, drops: 0 })).toBe(999);
  });
});
