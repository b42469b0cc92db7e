/** How full the current chunk is (`tokens`: estimated prompt tokens, counted only under a token budget). */
export interface ChunkCounter {
  requests: number;
  bytes: number;
  tokens?: number;
}

/** Per-file limits; `maxBatchTokens` is an optional budget of estimated enqueued (prompt) tokens. */
export interface ChunkLimits {
  maxRequests: number;
  maxBytes: number;
  maxBatchTokens?: number | undefined;
}

/** What happens to a line: it goes into the current chunk, starts a new one, or fits in no chunk at all. */
export type ChunkPlan = 'append' | 'rotate' | 'line-too-large' | 'line-over-token-budget';

/**
 * True when a line's estimated prompt tokens exceed the batch token budget on their own: no chunk can take it
 * (planChunk's `line-over-token-budget`; `kbatch lint` and `kbatch submit` judge files made elsewhere by it too).
 */
export function overTokenBudget(lineTokens: number, limits: Pick<ChunkLimits, 'maxBatchTokens'>): boolean {
  return limits.maxBatchTokens !== undefined && lineTokens > limits.maxBatchTokens;
}

/**
 * Pure rotation rule: does a line of `lineBytes` (UTF-8, newline included) and `lineTokens` (estimated prompt tokens)
 * go into the current chunk, or start a new one? A line above `maxBytes` or `maxBatchTokens` on its own fits no
 * chunk; otherwise an empty chunk always takes it. A chunk may reach every limit exactly.
 */
export function planChunk(counter: ChunkCounter, lineBytes: number, limits: ChunkLimits, lineTokens = 0): ChunkPlan {
  const budget = limits.maxBatchTokens;
  if (lineBytes > limits.maxBytes) return 'line-too-large';
  if (overTokenBudget(lineTokens, limits)) return 'line-over-token-budget';
  if (counter.requests === 0) return 'append';
  if (counter.requests + 1 > limits.maxRequests) return 'rotate';
  if (counter.bytes + lineBytes > limits.maxBytes) return 'rotate';
  if (budget !== undefined && (counter.tokens ?? 0) + lineTokens > budget) return 'rotate';
  return 'append';
}
