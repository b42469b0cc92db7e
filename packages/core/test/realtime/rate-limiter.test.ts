import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRateLimiter } from '../../src/realtime/rate-limiter.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

// Fake clock: Date.now and setTimeout both follow vi's timers, so waits are measured, not timed.
describe('createRateLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Start an acquire and record the (fake) time it lets the request go. */
  const track = (promise: Promise<void>, sends: number[]) => promise.then(() => void sends.push(Date.now()));
  const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

  it('resolves at once without limits', async () => {
    const limiter = createRateLimiter({});
    await limiter.acquire(1_000_000);
    await limiter.acquire(1_000_000);
    expect(Date.now()).toBe(0);
  });

  it('waits for the rpm spacing: the second request goes 60 s after the first at rpm 1', async () => {
    const limiter = createRateLimiter({ rpm: 1 });
    await limiter.acquire(0);
    const sends: number[] = [];
    const second = track(limiter.acquire(0), sends);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(sends).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(sends).toEqual([60_000]);
  });

  it('rejects with ABORTED when aborted while waiting, and gives the slot back', async () => {
    const limiter = createRateLimiter({ rpm: 1 });
    await limiter.acquire(0);
    const controller = new AbortController();
    const waiting = catchError(() => limiter.acquire(0, controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    expectKbatchError(await waiting, { code: 'ABORTED' });
    const sends: number[] = [];
    const next = track(limiter.acquire(0), sends);
    await vi.advanceTimersByTimeAsync(60_000);
    await next;
    expect(sends).toEqual([60_000]); // the aborted caller's slot, not the one after it
  });

  it('keeps the rpm spacing between sends when tpm is the tighter limit (callers arriving over time)', async () => {
    // 1 000 tokens/s (bucket 1 000) and one request every 100 ms; a 2 000-token request puts tpm into debt,
    // then 8 small requests arrive 100 ms apart: tpm alone would release them ~10 ms apart.
    const limiter = createRateLimiter({ rpm: 600, tpm: 60_000 });
    const sends: number[] = [];
    const all = [track(limiter.acquire(2_000), sends)];
    for (let i = 0; i < 8; i++) {
      await vi.advanceTimersByTimeAsync(100);
      all.push(track(limiter.acquire(10), sends));
    }
    await vi.advanceTimersByTimeAsync(10_000);
    await Promise.all(all);
    expect(sends).toHaveLength(9);
    expect(Math.min(...gaps(sends))).toBeGreaterThanOrEqual(100);
    expect(sends[1]).toBeGreaterThanOrEqual(1_000); // and the tpm debt was waited for
  });

  it('keeps the rpm spacing when 8 callers arrive together and tpm is tight', async () => {
    const limiter = createRateLimiter({ rpm: 600, tpm: 6_000 }); // 100 tokens/s, bucket 100
    const sends: number[] = [];
    const all = Array.from({ length: 8 }, () => track(limiter.acquire(5), sends));
    await vi.advanceTimersByTimeAsync(10_000);
    await Promise.all(all);
    expect(sends).toHaveLength(8);
    expect(Math.min(...gaps(sends))).toBeGreaterThanOrEqual(100);
  });

  it('paces tokens: a request waits until the bucket holds its estimate', async () => {
    const limiter = createRateLimiter({ tpm: 60 }); // 1 token per second, bucket of 1
    await limiter.acquire(1);
    const sends: number[] = [];
    const second = track(limiter.acquire(1), sends);
    await vi.advanceTimersByTimeAsync(999);
    expect(sends).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(sends).toEqual([1_000]);
  });

  it('gives tokens back through correct(-estimate), so a refused attempt does not delay its retry', async () => {
    const limiter = createRateLimiter({ tpm: 60 });
    await limiter.acquire(1);
    limiter.correct(-1); // the server refused that attempt: nothing was used
    const sends: number[] = [];
    await track(limiter.acquire(1), sends);
    expect(sends).toEqual([0]);
  });

  it('charges extra usage reported by correct()', async () => {
    const limiter = createRateLimiter({ tpm: 60 });
    await limiter.acquire(1);
    limiter.correct(2); // it used 3 tokens, not 1
    const sends: number[] = [];
    const next = track(limiter.acquire(1), sends);
    await vi.advanceTimersByTimeAsync(5_000);
    await next;
    expect(sends).toEqual([3_000]);
  });
});
