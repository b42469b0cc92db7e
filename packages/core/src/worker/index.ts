export { runWorker, RunWorkerOptionsSchema } from './run-worker.js';
export type { RunWorkerOptions, StepLog, WorkerReport } from './run-worker.js';
export { detachRun, isDetached } from './detach-run.js';
export type { DetachRunOptions, DetachedRun } from './detach-run.js';
export { enqueueJob, jobStep } from './job-steps.js';
export { openStepReader } from './step-queue.js';
export type { StepReader, StepStatus } from './step-queue.js';
export type { StepName } from './next-step.js';
export type { WorkerStep } from '../state/run-state.js';
