// The spend types of the cost area (a price row is cost/prices.ts' `Price`).
import type { Price } from './prices.js';

export type { Price };

/** How a request was paid: through the Batch API, or one by one (realtime mode, stragglers, realtime retry rounds). */
export type SpendMode = 'batch' | 'realtime';

/** A price lookup (cost/prices.ts' `priceFor`): undefined when the price is not known. */
export type PriceOf = (query: { provider: string; model: string; mode: SpendMode; window?: string }) => Price | undefined;

/** Tokens of the answers paid for in one mode (retries and superseded attempts included). */
export interface UsageCounts {
  /** Answers whose usage was reported. */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Of `completionTokens` (billed as output, counted once). */
  reasoningTokens: number;
  /** Of `promptTokens` (billed at the cached input price where one is given). */
  cachedTokens: number;
}

/** What one model's answers cost, per mode and in all. */
export interface ModelSpend {
  provider: string;
  model: string;
  batch: UsageCounts;
  realtime: UsageCounts;
  /** USD; null when a price the answers need is unknown (never 0 for an unknown price). */
  cost: number | null;
  /** What the batch answers would have cost at realtime prices minus what they cost; null when either price is unknown. */
  batchSaved: number | null;
}

/** The actual spend of a run, from its answers' usage. */
export interface Spend {
  currency: 'USD';
  models: ModelSpend[];
  /** The sum over models whose cost is known; null when none is known. */
  cost: number | null;
  /** Model/mode pairs that have answers but no known price (then `cost` covers the others only). */
  unpriced: string[];
  batchSaved: number | null;
  /**
   * What the answers the request cache gave would have cost at today's prices for the mode the run would have sent them
   * in without the cache (their tokens as stored); null when no answer came from the cache, when one was stored without
   * its token counts, or when that price is unknown (never 0 or an understatement for unknown).
   */
  cacheSaved: number | null;
  /** Cached answers stored without their token counts, when any (then `cacheSaved` is null). */
  cachedWithoutUsage?: number;
  /** The price rows used: their sources and the oldest date checked; null when no price was known. */
  prices: { source: string; checked: string } | null;
}
