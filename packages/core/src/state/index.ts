// Where the job state lives: the store interface, its job-directory implementation and the state's schemas and types.
// The state files' names and loaders are engine parts (see ../internal.ts).
export { directoryStore, DirectoryJobStore } from './job-store.js';
export type { JobStore, JobLockScope, OpenedAnswersLog } from './job-store.js';
export { JobManifestSchema, JobPartSchema } from './manifest.js';
export type { JobManifest, JobPart, LineError } from './manifest.js';
export { RunStateSchema } from './run-state.js';
export type { RunState, RunSettings } from './run-state.js';
export { openPostgresDatabase, openSessionPool, postgresStore, PostgresJobStore, PostgresStoreOptionsSchema } from './postgres-store.js';
export type { PostgresStoreOptions, PostgresJobLock } from './postgres-store.js';
export { migrateStateSchema, STATE_MIGRATIONS } from './postgres-schema.js';
export { openJobStore, OpenJobStoreOptionsSchema, redactUrl } from './open-job-store.js';
export type { OpenJobStoreOptions, OpenedJobStore } from './open-job-store.js';
export { directoryStorage } from './job-storage.js';
export type { JobStorage } from './job-storage.js';
