export { openAnswerCache, cacheStats, pruneCache, clearCache, CACHE_DATA_FILE } from './answer-cache.js';
export type { AnswerCache, CachedAnswer, CacheStats } from './answer-cache.js';
export { cacheDir } from './cache-dir.js';
export { canonicalJson, requestKey } from './request-key.js';
