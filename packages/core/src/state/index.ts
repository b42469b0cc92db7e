// Where the job state lives: the store interface, its job-directory implementation and the state's schemas.
export { directoryStore, DirectoryJobStore } from './job-store.js';
export type { JobStore, JobLockScope, OpenedAnswersLog } from './job-store.js';
export { loadManifest, writeManifest, MANIFEST_FILE, JobManifestSchema, JobPartSchema } from './manifest.js';
export type { JobManifest, JobPart, LineError } from './manifest.js';
export { acquireJobLock, LOCK_FILE } from './lock.js';
export type { JobLock } from './lock.js';
export { CANCEL_MARKER_FILE } from './cancel-marker.js';
export { RUN_STATE_FILE, RunStateSchema, loadRunState, isRunJob } from './run-state.js';
export type { RunState, RunSettings } from './run-state.js';
export { loadAnsweredIds, repairAnswersLog, openAnswersLog } from './answers-log.js';
export type { AnsweredIds, AnswerLocation, AnswersLog, FailureMarker } from './answers-log.js';
