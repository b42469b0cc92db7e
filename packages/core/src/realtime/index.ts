// The realtime area's public exports (re-exported by src/index.ts).
export { runRealtime, RealtimeOptionsSchema, RunRealtimeOptionsSchema } from './run-realtime.js';
export type { RealtimeClient, RealtimeOptions, ResolvedRealtimeOptions, RunRealtimeOptions } from './run-realtime.js';
export { realtimeStream } from './realtime-stream.js';
export { loadAnsweredIds, openAnswersLog } from './answers-log.js';
export type { AnsweredIds, AnswerLocation, AnswersLog } from './answers-log.js';
export { createRateLimiter } from './rate-limiter.js';
export type { RateLimiter } from './rate-limiter.js';
export { createTokenBucket } from './token-bucket.js';
export type { TokenBucket } from './token-bucket.js';
export { estimateTokens } from './estimate-tokens.js';
export { createAdaptiveConcurrency } from './adaptive-concurrency.js';
export type { AdaptiveConcurrency } from './adaptive-concurrency.js';
export { classifyFailure, parseRetryAfter, backoffDelay } from './retry-policy.js';
export type { FailureInfo } from './retry-policy.js';
export { createReorderBuffer } from './reorder-buffer.js';
export type { ReorderBuffer } from './reorder-buffer.js';
export type { RealtimeResultLine, RealtimeEvent, FailureKind } from './types.js';
