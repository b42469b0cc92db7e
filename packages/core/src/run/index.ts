// The run area's public surface: one resumable call from a dataset to a joined dataset (re-exported by src/index.ts).
export { runJob, resumeRun, runRecords, formatRunSummary } from './run-job.js';
export type { ResumeRunOptions } from './run-job.js';
export { runStream } from './run-stream.js';
export type { RunStreamOptions } from './run-stream.js';
export { RunJobOptionsSchema } from './run-options.js';
export type { RunJobOptions, ResolvedRunJobOptions, RunEvent, RunRecordRow, RunSummary, RecordsInput } from './run-options.js';
export { SAMPLE_FILE, formatSample, sampleSummary } from './run-sample.js';
export type { SampleSummary } from './run-sample.js';
