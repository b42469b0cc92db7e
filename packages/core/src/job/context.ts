import type { LimitFunction } from 'p-limit';
import type { ManifestStore } from './manifest.js';
import type { JobClient, JobEvent } from './types.js';

/** Everything the job steps share while one process drives a job. */
export interface JobContext {
  store: ManifestStore;
  client: JobClient;
  signal?: AbortSignal;
  limit: LimitFunction;
  emit: (event: JobEvent) => void;
  opts: {
    concurrency: number;
    pollIntervalMs: number;
    retryBaseMs: number;
    noResubmit: boolean;
    maxResubmits: number;
    downloadAttempts: number;
  };
}
