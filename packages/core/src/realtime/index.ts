// The realtime area's public surface: the same requests through chat completions (re-exported by src/index.ts).
export { runRealtime, RealtimeOptionsSchema, RunRealtimeOptionsSchema } from './run-realtime.js';
export type { RealtimeClient, RealtimeOptions, ResolvedRealtimeOptions, RunRealtimeOptions } from './run-realtime.js';
export { realtimeStream } from './realtime-stream.js';
export type { RealtimeResultLine, RealtimeEvent, FailureKind } from './realtime-types.js';
export { streamChat, StreamChatOptionsSchema } from './stream-chat.js';
export type { StreamChatOptions } from './stream-chat.js';
export { runRealtimeJob, RunRealtimeJobOptionsSchema } from './run-realtime-job.js';
export type { RunRealtimeJobOptions } from './run-realtime-job.js';
export type { RealtimeJobSummary, RealtimeChunkResult } from './run-to-files.js';
export { DEFAULT_AUTO_THRESHOLD } from './choose-mode.js';
export type { RunMode } from './choose-mode.js';
export { RealtimeTransportSchema } from './fast-client.js';
export type { RealtimeTransport } from './fast-client.js';
export { createBudgetGuard, DEFAULT_BUDGET_COMPLETION_TOKENS } from './realtime-budget.js';
export type { BudgetGuard, RealtimeBudget } from './realtime-budget.js';
