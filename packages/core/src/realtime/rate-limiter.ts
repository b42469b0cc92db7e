import { createTokenBucket, type TokenBucket } from './token-bucket.js';
import { sleep } from './sleep.js';

/** Paces request attempts under a requests-per-minute and an estimated tokens-per-minute limit. */
export interface RateLimiter {
  /** Wait until one request of `tokens` estimated tokens may be sent. Rejects with ABORTED on abort. */
  acquire(tokens: number, signal?: AbortSignal): Promise<void>;
  /** Correct the token budget once the real usage is known (`actual - estimated`). */
  correct(delta: number): void;
}

/**
 * Create the limiter. `rpm` is a bucket of capacity 1 (requests are evenly spaced 60 000 / rpm ms
 * apart, so no minute window ever exceeds the limit); `tpm` is a bucket holding one second of
 * tokens (tpm / 60), which may go into debt for a single large request.
 * Either limit may be omitted; with neither, `acquire` resolves at once.
 */
export function createRateLimiter(options: { rpm?: number; tpm?: number; now?: () => number }): RateLimiter {
  const requests: TokenBucket | undefined =
    options.rpm === undefined ? undefined : createTokenBucket({ ratePerMinute: options.rpm, capacity: 1, now: options.now });
  const tokens: TokenBucket | undefined =
    options.tpm === undefined
      ? undefined
      : createTokenBucket({ ratePerMinute: options.tpm, capacity: Math.max(1, options.tpm / 60), now: options.now });
  return {
    async acquire(cost, signal) {
      const wait = Math.max(requests?.reserve(1) ?? 0, tokens?.reserve(cost) ?? 0);
      await sleep(wait, signal);
    },
    correct(delta) {
      tokens?.adjust(-delta);
    },
  };
}
