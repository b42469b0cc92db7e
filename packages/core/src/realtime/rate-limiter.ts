import { abortedError, sleep } from '../client/retry.js';

/** Paces request attempts under a requests-per-minute and an estimated tokens-per-minute limit. */
export interface RateLimiter {
  /**
   * Wait until one request of `tokens` estimated tokens may be sent, then send it at once (its slot
   * and tokens are charged to that send time). Rejects with ABORTED on abort, giving the tokens back
   * (and the rpm slot, if no later caller was scheduled after it).
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<void>;
  /**
   * Correct the token budget once the real usage is known (`actual - estimated`); an attempt that
   * the server refused without generating (an HTTP error) gives its estimate back with `-estimated`,
   * so its retry is not charged twice.
   */
  correct(delta: number): void;
}

/**
 * Create the limiter. Callers are scheduled one after another (FIFO), each at the first time both
 * limits allow: `rpm` spaces sends at least 60 000 / rpm ms apart (so no minute window ever exceeds
 * the limit), and `tpm` is a bucket holding one second of tokens (tpm / 60) refilled continuously,
 * which a single request larger than the bucket may drive into debt (it goes once the bucket is full;
 * later ones wait for the debt). Both limits judge the same send time, so a tpm wait never lets
 * rpm-spaced slots bunch up. Either limit may be omitted; with neither, `acquire` resolves at once.
 * @example
 * const limiter = createRateLimiter({ rpm: 600, tpm: 100_000 });
 * await limiter.acquire(estimateTokens(request.body), signal); // then send
 */
export function createRateLimiter(options: { rpm?: number; tpm?: number; now?: () => number }): RateLimiter {
  const now = options.now ?? Date.now;
  const interval = options.rpm === undefined ? 0 : 60_000 / options.rpm;
  const perMs = options.tpm === undefined ? 0 : options.tpm / 60_000;
  const capacity = options.tpm === undefined ? 0 : Math.max(1, options.tpm / 60);
  let nextSendAt = -Infinity; // rpm: the earliest time the next request may go
  let fullAt = -Infinity; // tpm (virtual scheduling): when the bucket is full again; tokens(t) = capacity - max(0, fullAt - t) × perMs
  return {
    async acquire(cost, signal) {
      if (interval === 0 && perMs === 0) {
        if (signal?.aborted) throw abortedError(signal);
        return;
      }
      const t = now();
      let at = Math.max(t, nextSendAt);
      const tokens = Math.max(0, cost);
      if (perMs > 0) {
        at = Math.max(at, fullAt - (capacity - Math.min(tokens, capacity)) / perMs);
        fullAt = Math.max(fullAt, at) + tokens / perMs;
      }
      const previousSendAt = nextSendAt;
      if (interval > 0) nextSendAt = at + interval;
      try {
        if (at > t) await sleep(Math.ceil(at - t), signal);
        else if (signal?.aborted) throw abortedError(signal);
      } catch (err) {
        if (perMs > 0) fullAt -= tokens / perMs;
        if (interval > 0 && nextSendAt === at + interval) nextSendAt = previousSendAt;
        throw err;
      }
    },
    correct(delta) {
      if (perMs > 0) fullAt = Math.max(fullAt, now()) + delta / perMs;
    },
  };
}
