/** A reservation-based token bucket: callers reserve first, then wait the returned delay (FIFO-fair). */
export interface TokenBucket {
  /** Take `cost` tokens now (the balance may go negative) and return how long to wait before using them. */
  reserve(cost: number): number;
  /** Give back (positive) or charge extra (negative) tokens, e.g. once the real token usage is known. */
  adjust(delta: number): void;
}

/**
 * Create a token bucket refilled at `ratePerMinute`, holding at most `capacity` tokens.
 * Reservations may drive the balance negative, so waiting callers queue in reservation order and a
 * request larger than the capacity still goes through (after the debt it creates is refilled).
 * @param options.ratePerMinute - refill rate
 * @param options.capacity - maximum burst; also the initial balance
 * @param options.now - clock in ms (injectable for tests)
 * @example
 * const bucket = createTokenBucket({ ratePerMinute: 60_000, capacity: 1_000 });
 * await sleep(bucket.reserve(estimate)); // then send; later bucket.adjust(estimate - actual)
 */
export function createTokenBucket(options: {
  ratePerMinute: number;
  capacity: number;
  now?: () => number;
}): TokenBucket {
  const now = options.now ?? Date.now;
  const perMs = options.ratePerMinute / 60_000;
  let tokens = options.capacity;
  let updatedAt = now();
  const refill = () => {
    const t = now();
    tokens = Math.min(options.capacity, tokens + (t - updatedAt) * perMs);
    updatedAt = t;
  };
  return {
    reserve(cost) {
      refill();
      tokens -= cost;
      return tokens >= 0 ? 0 : Math.ceil(-tokens / perMs);
    },
    adjust(delta) {
      refill();
      tokens = Math.min(options.capacity, tokens + delta);
    },
  };
}
