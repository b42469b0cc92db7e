// The chunk area's public surface: request lines → chunk files within the per-file limits.
export { parseSize } from './size.js';
export { ChunkWriterOptionsSchema, DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS, chunkLimits } from './chunk-options.js';
export type { ChunkInfo, ChunkWriterOptions, ResolvedChunkWriterOptions } from './chunk-options.js';
export { chunkWriter } from './chunk-writer.js';
export type { ChunkWriter } from './chunk-writer.js';
export { splitRequests } from './split-requests.js';
export type { SplitRequestsOptions, SplitSummary } from './split-requests.js';
