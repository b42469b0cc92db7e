// The public API of @kbatch/core: named exports only, one line per area (each area's index.ts lists its public
// names). Engine parts and job-directory file names are in ./internal.ts (`@kbatch/core/internal`, unstable).
export { KbatchError, isKbatchError, KBATCH_ERROR_CODES } from './errors.js';
export type { KbatchErrorCode, KbatchErrorContext } from './errors.js';
export * from './records/index.js';
export * from './request/index.js';
export * from './chunk/index.js';
export * from './client/index.js';
export * from './providers/index.js';
export * from './batch/index.js';
export * from './state/index.js';
export * from './job/index.js';
export * from './join/index.js';
export * from './realtime/index.js';
export * from './finetune/index.js';
export * from './answers/index.js';
export * from './output/index.js';
export * from './run/index.js';
export { costOf, emptyUsage, formatSpend, spendOf, unknownPrices, UsageTally } from './cost/spend.js';
export type { SpendOptions } from './cost/spend.js';
export type { ModelSpend, Price, PriceOf, Spend, SpendMode, UsageCounts } from './cost/spend-types.js';
