// The job area's public exports (re-exported by src/index.ts).
export { runBatchJob, resumeJob, JobOptionsSchema, RunBatchJobOptionsSchema, COMPLETION_WINDOWS } from './run-job.js';
export type { JobOptions, RunBatchJobOptions } from './run-job.js';
export { createJob, addChunks, resolveChunkFiles, newJobId, DEFAULT_JOBS_DIR } from './create-job.js';
export type { CreateJobOptions } from './create-job.js';
export { loadManifest, writeManifest, MANIFEST_FILE, JobManifestSchema, JobPartSchema } from '../state/manifest.js';
export type { JobManifest, JobPart, LineError } from '../state/manifest.js';
export { acquireJobLock, LOCK_FILE } from '../state/lock.js';
export type { JobLock } from '../state/lock.js';
export { readJobResults, readJobResultEntries, jobResultStream } from './read-job-results.js';
export type { JobResultEntry } from './read-job-results.js';
export { jobStatus, cancelJob } from './job-commands.js';
export { CANCEL_MARKER_FILE } from '../state/cancel-marker.js';
export { summarizeJob } from './summary.js';
export { isSuccessLine, isUnrunLine } from './classify.js';
export type { JobClient, JobEvent, JobSummary, PartProgress, BatchResultLine } from './types.js';
export { StragglerRuleSchema, stragglerLimit, DEFAULT_STRAGGLER_WAIT_MS } from './straggler-rule.js';
export type { StragglerRule, StragglerRuleOptions } from './straggler-rule.js';
