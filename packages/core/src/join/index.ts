// The join area's public surface: batch results back onto input records (re-exported by src/index.ts).
export type { BatchResult, ResultLine } from './result-line.js';
export type { JoinIssue, JoinIssueHandler } from './join-issue.js';
export { JoinRecordOptionsSchema } from './join-plan.js';
export type { JoinRecordOptions } from './join-plan.js';
export type { JoinOutcome, JoinStatus } from './join-record.js';
export { formatJoinReport } from './join-report.js';
export type { JoinReport } from './join-report.js';
export { joinStream } from './join-stream.js';
export type { JoinStreamOptions } from './join-stream.js';
export { joinChunks } from './join-chunks.js';
export type { JoinChunksOptions } from './join-chunks.js';
export { joinFiles, JoinFilesOptionsSchema } from './join-files.js';
export type { JoinFilesOptions } from './join-files.js';
