/** The current concurrency limit, lowered by 429 bursts and raised again by successes (AIMD). */
export interface AdaptiveConcurrency {
  /** The effective limit now (between `min` and `max`). */
  readonly limit: number;
  /** Report a 429. Returns true when this lowered the limit. */
  onRateLimited(): boolean;
  /** Report a success. Returns true when this raised the limit. */
  onSuccess(): boolean;
}

/**
 * AIMD concurrency control, as in TCP congestion avoidance:
 * - multiplicative decrease: a 429 halves the limit (never below `min`); further 429s within
 *   `cooldownMs` of a decrease belong to the same burst (they were already in flight) and are ignored;
 * - additive increase: once `cooldownMs` has passed without a decrease, every success adds 1/limit,
 *   so the limit grows by one per "round" of `limit` successes until it is back at `max`.
 * @param options.max - the configured concurrency (the ceiling)
 * @param options.min - the floor (default 1)
 * @param options.cooldownMs - burst grouping and calm period before recovery (default 2000)
 * @param options.now - clock in ms (injectable for tests)
 * @example
 * const adaptive = createAdaptiveConcurrency({ max: 64, cooldownMs: 2000 });
 * if (adaptive.onRateLimited()) limit.concurrency = adaptive.limit; // 64 → 32 on a 429 burst
 * if (adaptive.onSuccess()) limit.concurrency = adaptive.limit; // grows back once calm
 */
export function createAdaptiveConcurrency(options: {
  max: number;
  min?: number;
  cooldownMs?: number;
  now?: () => number;
}): AdaptiveConcurrency {
  const min = Math.min(options.min ?? 1, options.max);
  const cooldownMs = options.cooldownMs ?? 2000;
  const now = options.now ?? Date.now;
  let window = options.max; // fractional; the limit is its floor
  let lastDecrease = -Infinity;
  return {
    get limit() {
      return Math.max(min, Math.floor(window));
    },
    onRateLimited() {
      const t = now();
      if (t - lastDecrease < cooldownMs) return false;
      lastDecrease = t;
      const before = Math.floor(window);
      window = Math.max(min, Math.floor(window / 2));
      return Math.floor(window) !== before;
    },
    onSuccess() {
      if (window >= options.max || now() - lastDecrease < cooldownMs) return false;
      const before = Math.floor(window);
      window = Math.min(options.max, window + 1 / Math.floor(window));
      return Math.floor(window) !== before;
    },
  };
}
