/** The current concurrency limit, lowered when the recent 429 rate says the server is saturated and raised again by successes (AIMD). */
export interface AdaptiveConcurrency {
  /** The effective limit now (between `min` and `max`). */
  readonly limit: number;
  /** Report a 429. Returns true when this lowered the limit. */
  onRateLimited(): boolean;
  /** Report a success. Returns true when this raised the limit. */
  onSuccess(): boolean;
}

/** Options of {@link createAdaptiveConcurrency}. */
export interface AdaptiveConcurrencyOptions {
  /** The configured concurrency (the ceiling). */
  max: number;
  /** The floor (default 1). */
  min?: number;
  /** Burst grouping and calm period before recovery, in ms (default 2000). */
  cooldownMs?: number;
  /** Fraction of 429s among the recent outcomes that means the server is saturated (default 0.2). */
  threshold?: number;
  /** How many recent outcomes (429s and successes) the fraction is taken over (default max(32, 4 × max)). */
  sample?: number;
  /** Until this many outcomes are known, the missing ones count as successes (default 1: a first 429 alone is saturation). */
  minSamples?: number;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
}

/** The share of recent outcomes (429s, or dropped connections) above which they are no longer sporadic. */
export const SATURATION_RATE = 0.2;

/**
 * AIMD concurrency control, as in TCP congestion avoidance, driven by the 429 *rate* rather than by single 429s:
 * - multiplicative decrease: when at least `threshold` of the last `sample` outcomes are 429s, the limit halves
 *   (never below `min`) and the count starts afresh; 429s within `cooldownMs` of a decrease belong to the same
 *   burst (they were already in flight) and lower nothing. A 429 now and then at a low rate (a server that sheds
 *   load at random) changes nothing: its request waits for its retry while the others go on;
 * - additive increase: once `cooldownMs` has passed without a decrease, every success adds 1/limit,
 *   so the limit grows by one per "round" of `limit` successes until it is back at `max`.
 * @example
 * const adaptive = createAdaptiveConcurrency({ max: 64, cooldownMs: 2000, minSamples: 64 });
 * if (adaptive.onRateLimited()) limit.concurrency = adaptive.limit; // 64 → 32 once 20% of recent outcomes are 429s
 * if (adaptive.onSuccess()) limit.concurrency = adaptive.limit; // grows back once calm
 */
export function createAdaptiveConcurrency(options: AdaptiveConcurrencyOptions): AdaptiveConcurrency {
  const min = Math.min(options.min ?? 1, options.max);
  const cooldownMs = options.cooldownMs ?? 2000;
  const now = options.now ?? Date.now;
  const rate = createRecentRate(options.sample ?? Math.max(32, 4 * options.max), options.minSamples ?? 1);
  const threshold = options.threshold ?? SATURATION_RATE;
  let window = options.max; // fractional; the limit is its floor
  let lastDecrease = -Infinity;
  return {
    get limit() {
      return Math.max(min, Math.floor(window));
    },
    onRateLimited() {
      rate.record(true);
      const t = now();
      if (t - lastDecrease < cooldownMs || rate.value() < threshold) return false;
      lastDecrease = t;
      rate.clear();
      const before = Math.floor(window);
      window = Math.max(min, Math.floor(window / 2));
      return Math.floor(window) !== before;
    },
    onSuccess() {
      rate.record(false);
      if (window >= options.max || now() - lastDecrease < cooldownMs) return false;
      const before = Math.floor(window);
      window = Math.min(options.max, window + 1 / Math.floor(window));
      return Math.floor(window) !== before;
    },
  };
}

/** The fraction of hits among the last `size` outcomes (a ring of flags), over at least `minSamples`. */
export function createRecentRate(size: number, minSamples: number) {
  const ring = new Uint8Array(Math.max(1, size));
  let known = 0;
  let next = 0;
  let hits = 0;
  return {
    record(hit: boolean) {
      if (known === ring.length) hits -= ring[next]!;
      else known++;
      ring[next] = hit ? 1 : 0;
      hits += ring[next]!;
      next = (next + 1) % ring.length;
    },
    value: () => hits / Math.max(known, minSamples, 1),
    clear() {
      ring.fill(0);
      known = next = hits = 0;
    },
  };
}
