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
export * from './eval/index.js';
export * from './cache/index.js';
export { estimateJob, checkBudget, type EstimateJobOptions, type JobEstimate } from './cost/estimate-job.js';
export { estimateLines } from './cost/estimate-format.js';
export { MaxCostSchema } from './cost/estimate-options.js';
export { priceFor, PRICE_TABLE, type Price } from './cost/prices.js';
export { loadTokenizer, tokenizerKind, type TextTokenizer, type TokenizerKind } from './cost/tokenizer.js';
export { chatPromptTokens } from './cost/tokenizer-chat.js';
export { costOf, emptyUsage, formatSpend, spendOf, unknownPrices, UsageTally } from './cost/spend.js';
export type { SpendOptions } from './cost/spend.js';
export type { ModelSpend, PriceOf, Spend, SpendMode, UsageCounts } from './cost/spend-types.js';
