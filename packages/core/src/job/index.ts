// The job area's public surface: submit, resume, inspect, cancel and read a batch job (re-exported by src/index.ts).
export { runBatchJob, resumeJob, JobOptionsSchema, RunBatchJobOptionsSchema, COMPLETION_WINDOWS } from './batch-job.js';
export type { JobOptions, RunBatchJobOptions } from './batch-job.js';
export { DEFAULT_JOBS_DIR } from './create-job.js';
export { readJobResults, readJobResultEntries, jobResultStream } from './read-job-results.js';
export type { JobResultEntry } from './read-job-results.js';
export { jobStatus, cancelJob } from './job-commands.js';
export { isSuccessLine, isUnrunLine } from './classify.js';
export type { JobClient, JobEvent, JobSummary, PartProgress, BatchResultLine } from './job-types.js';
export { StragglerRuleSchema } from './straggler-rule.js';
export type { StragglerRule, StragglerRuleOptions } from './straggler-rule.js';
