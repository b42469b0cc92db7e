// `@kbatch/core/internal`: the public API plus the engine parts the CLI, the emulator and the examples build on
// (job-directory file names, rate limiting, lookups, low-level parsers). UNSTABLE: no semver promise; names here
// may change or go in any release. Library users import from `@kbatch/core`.
export * from './index.js';
export { parseOptions } from './options.js';

// records, request, chunk
export { rejectionError } from './records/rejected-record.js';
export { CHAT_PARAM_FIELDS } from './request/request-options.js';
export { createRequestEncoder } from './request/request-encoder.js';
export type { RequestEncoder } from './request/request-encoder.js';
export { overTokenBudget, planChunk } from './chunk/plan-chunk.js';
export type { ChunkPlan } from './chunk/plan-chunk.js';
export { estimateLineTokens } from './chunk/line-tokens.js';
export { MaxBatchTokensSchema, MaxBytesSchema, MaxRequestsSchema } from './chunk/chunk-options.js';
export type { ChunkCounter, ChunkLimits } from './chunk/plan-chunk.js';

// client and batch
export { ListPageSchema, RequestCountsSchema, BatchErrorEntrySchema, TERMINAL_BATCH_STATUSES, isTerminalStatus, parseBatch, parseFile, parseResponse } from './client/schemas.js';
export { DEFAULT_UPLOAD_ATTEMPTS } from './client/upload-file.js';
export { isTransientError } from './client/retry.js';
export { createUndiciFetch, UndiciFetchOptionsSchema } from './client/undici-fetch.js';
export type { UndiciFetch, UndiciFetchOptions } from './client/undici-fetch.js';
export { createDirectChat, supportsDirectChat, DirectChatOptionsSchema } from './client/direct-chat.js';
export type { DirectChat, DirectChatOptions, DirectChatRequestOptions } from './client/direct-chat.js';
export { CHAT_COMPLETIONS_ENDPOINT } from './batch/create-batch.js';
export { findBatchByMetadata, listAllBatches, listRawBatches, metadataMatches } from './batch/find-batch.js';
export type { FindBatchOptions } from './batch/find-batch.js';

// providers
export { jobProvider, markLocalClient, namedProvider, recordedProvider } from './providers/job-provider.js';
export { lintRunChunks } from './providers/lint-run-chunks.js';
export { checkWindow, checkOutputExpiry, checkRecordedProvider } from './providers/resolve-provider.js';
export { lintLine, newLintState, formatLintProblem, hasLineRules } from './providers/lint-requests.js';
export type { LintState } from './providers/lint-requests.js';
export { clientProvider } from './client/create-kluster-client.js';

// job
export { createJob, addChunks, resolveChunkFiles, newJobId } from './job/create-job.js';
export type { CreateJobOptions } from './job/create-job.js';
export { summarizeJob } from './job/summary.js';
export { stragglerLimit, DEFAULT_STRAGGLER_WAIT_MS } from './job/straggler-rule.js';

// job state (the job directory's files)
export { loadManifest, writeManifest, MANIFEST_FILE, JobManifestSchema, JobPartSchema } from './state/manifest.js';
export { acquireJobLock, LOCK_FILE } from './state/lock.js';
export type { JobLock } from './state/lock.js';
export { CANCEL_MARKER_FILE } from './state/cancel-marker.js';
export { RUN_STATE_FILE, RunStateSchema, loadRunState, hasRunState } from './state/run-state.js';
export { isRunJob } from './run/run-job.js';
export type { RunState, RunSettings } from './state/run-state.js';
export { loadAnsweredIds, repairAnswersLog, openAnswersLog } from './state/answers-log.js';
export type { AnsweredIds, AnswerLocation, AnswersLog, FailureMarker } from './state/answers-log.js';

// join
export { ResultLineSchema, parseResultLine, normalizeResultLine } from './join/result-line.js';
export type { ResultLineSource } from './join/result-line.js';
export { resultMap, prefersResult } from './join/result-lookup.js';
export type { ResultLookup, ResultSource } from './join/result-lookup.js';
export { indexResultFiles } from './join/result-file-index.js';
export { createJoinPlan, assertNoCollision } from './join/join-plan.js';
export type { JoinPlan } from './join/join-plan.js';
export { joinRecord } from './join/join-record.js';
export { emptyJoinReport } from './join/join-report.js';
export { ChunkJoiner } from './join/chunk-joiner.js';
export type { JoinChunk, JoinHooks } from './join/chunk-joiner.js';

// realtime engine
export { createRateLimiter } from './realtime/rate-limiter.js';
export type { RateLimiter } from './realtime/rate-limiter.js';
export { createTokenBucket } from './realtime/token-bucket.js';
export type { TokenBucket } from './realtime/token-bucket.js';
export { estimatePromptTokens, estimateTokens } from './realtime/estimate-tokens.js';
export { createAdaptiveConcurrency } from './realtime/adaptive-concurrency.js';
export type { AdaptiveConcurrency } from './realtime/adaptive-concurrency.js';
export { classifyFailure, parseRetryAfter, backoffDelay, retryDelay } from './realtime/retry-policy.js';
export type { FailureInfo } from './realtime/retry-policy.js';
export { createReorderBuffer } from './realtime/reorder-buffer.js';
export type { ReorderBuffer } from './realtime/reorder-buffer.js';
export { finishRealtime, FinishRealtimeOptionsSchema, realtimeResultFile, realtimeAnswersLog, REALTIME_DIR, REALTIME_ANSWERS_FILE } from './realtime/run-realtime-job.js';
export type { FinishRealtimeOptions } from './realtime/run-realtime-job.js';
export { chooseMode } from './realtime/choose-mode.js';
export { realtimeClientFor } from './realtime/fast-client.js';
export type { RealtimeClientInput } from './realtime/fast-client.js';
export { REALTIME_MAX_REQUESTS } from './run/run-job.js';

// finetune and answers building blocks
export { estimateExampleTokens, TOKENS_PER_MESSAGE, TOKENS_PER_CONVERSATION } from './finetune/tokens.js';
export { isValidationRow } from './finetune/split.js';
export { FINE_TUNE_TERMINAL_STATUSES, parseFineTuneJob } from './finetune/job-schema.js';
export { buildLabelInstruction, parseLabel, normalizeLabels, cleanLabelAnswer } from './answers/labels.js';
export { labelConfidence } from './answers/confidence.js';
export type { TokenLogprob } from './answers/confidence.js';
export { parseJsonAnswer } from './answers/json-answer.js';
export { compileAnswerSchema, buildSchemaInstruction, parseSchemaAnswer } from './answers/answer-schema.js';
export { appendInstruction } from './answers/answer-parser.js';

// output building blocks
export { resolveOutputFormat } from './output/output-format.js';
export { flattenRow } from './output/flatten-row.js';
export { jsonLinesStringifier } from './output/json-lines-stringifier.js';
export { jsonArrayStringifier } from './output/json-array-stringifier.js';
export { csvRowStringifier, CsvRowStringifierOptionsSchema } from './output/csv-row-stringifier.js';

// request cache
export { divertCached, CACHED_RESULTS_FILE, REQUEST_KEYS_FILE } from './cache/divert-cached.js';
export type { CacheDiversion, DivertCachedOptions } from './cache/divert-cached.js';
export { keepAnswers, readCachedResults } from './cache/cached-answers.js';
export type { AnswerKeeper } from './cache/cached-answers.js';

// models (several models side by side)
export { budgetShares } from './models/models-budget.js';
export { usd } from './cost/estimate-job.js';

// worker
export { planStep, stepName } from './worker/next-step.js';
export type { StepOutcome, StepPlan, StepDelays } from './worker/next-step.js';
// the provider quota shared through the database (see quota/postgres-quota.ts)
export { quotaVerdict, mayBeEnqueued, ENQUEUED_GRACE_MS } from './quota/quota-verdict.js';
export type { QuotaSlot, QuotaLimits, QuotaVerdict, SlotPart } from './quota/quota-verdict.js';
export { keyFingerprint, quotaKey } from './quota/quota-key.js';
export { openJobQuota } from './quota/open-job-quota.js';
export { PostgresQuota } from './quota/postgres-quota.js';
export type { PartQuota, QuotaAnswer } from './quota/part-quota.js';
export { clientKeyFingerprint } from './client/create-kluster-client.js';
