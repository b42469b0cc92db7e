/** How full the current chunk is. */
export interface ChunkCounter {
  requests: number;
  bytes: number;
}

/** Per-file limits. */
export interface ChunkLimits {
  maxRequests: number;
  maxBytes: number;
}

/**
 * Pure rotation rule: does a line of `lineBytes` (UTF-8, newline included) go into the current chunk,
 * or does it start a new one? An empty chunk always takes the line; callers refuse lines larger than
 * `maxBytes` before asking. A chunk may reach both limits exactly.
 */
export function planChunk(counter: ChunkCounter, lineBytes: number, limits: ChunkLimits): 'append' | 'rotate' {
  if (counter.requests === 0) return 'append';
  if (counter.requests + 1 > limits.maxRequests) return 'rotate';
  if (counter.bytes + lineBytes > limits.maxBytes) return 'rotate';
  return 'append';
}
