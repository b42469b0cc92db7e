import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/realtime/rate-limiter.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('createRateLimiter', () => {
  it('resolves at once without limits', async () => {
    const limiter = createRateLimiter({});
    await limiter.acquire(1_000_000);
    await limiter.acquire(1_000_000);
  });

  it('waits for the rpm spacing and rejects with ABORTED when aborted while waiting', async () => {
    const t = 0;
    const limiter = createRateLimiter({ rpm: 1, now: () => t }); // second request 60 s later
    await limiter.acquire(0);
    const controller = new AbortController();
    const waiting = catchError(() => limiter.acquire(0, controller.signal));
    controller.abort();
    expectKbatchError(await waiting, { code: 'ABORTED' });
  });

  it('uses the larger of the rpm and tpm waits', async () => {
    const t = 0;
    const limiter = createRateLimiter({ rpm: 6_000_000, tpm: 60, now: () => t }); // 1 token per second, capacity 1
    await limiter.acquire(1);
    const controller = new AbortController();
    const waiting = catchError(() => limiter.acquire(1, controller.signal));
    setTimeout(() => controller.abort(), 20);
    expectKbatchError(await waiting, { code: 'ABORTED' });
  });
});
