// The run area: one resumable call from a dataset to a joined dataset (re-exported by src/index.ts).
export { runJob, resumeRun, runRecords, formatRunSummary, REALTIME_MAX_REQUESTS } from './run-job.js';
export type { ResumeRunOptions } from './run-job.js';
export { runStream } from './run-stream.js';
export type { RunStreamOptions } from './run-stream.js';
export { RunJobOptionsSchema } from './run-options.js';
export type { RunJobOptions, ResolvedRunJobOptions, RunEvent, RunRecordRow, RunSummary, RecordsInput } from './run-options.js';
export { RUN_STATE_FILE, RunStateSchema, loadRunState, isRunJob } from '../state/run-state.js';
export type { RunState, RunSettings } from '../state/run-state.js';
