// The fine-tuning area's public surface (re-exported by src/index.ts).
export { FINE_TUNABLE_MODELS, MAX_FINE_TUNE_CONTEXT, fineTuneContextWindow } from './models.js';
export {
  toTrainingExample,
  createTrainingExampleBuilder,
  TrainingExampleOptionsSchema,
  type TrainingExample,
  type BuiltTrainingExample,
  type TrainingExampleBuilder,
  type TrainingExampleOptions,
  type ResolvedTrainingExampleOptions,
} from './to-training-example.js';
export { trainingStream, TrainingStreamOptionsSchema, type TrainingStreamOptions, type TrainingItem } from './training-stream.js';
export {
  prepareTrainingData,
  PrepareTrainingDataOptionsSchema,
  type PrepareTrainingDataOptions,
  type TrainingDataSummary,
  type TrainingReject,
} from './prepare-training-data.js';
export { FineTuneJobSchema, type FineTuneJob } from './job-schema.js';
export {
  getFineTuneJob,
  cancelFineTuneJob,
  listFineTuneJobs,
  ListFineTuneJobsOptionsSchema,
  type ListFineTuneJobsOptions,
  type FineTuneJobsClient,
} from './jobs.js';
export {
  createFineTuneJob,
  CreateFineTuneJobOptionsSchema,
  type CreateFineTuneJobOptions,
  type CreateFineTuneJobClient,
  type FineTuneUpload,
} from './create-fine-tune-job.js';
export { waitForFineTuneJob, WaitForFineTuneJobOptionsSchema, type WaitForFineTuneJobOptions } from './wait-for-fine-tune-job.js';
