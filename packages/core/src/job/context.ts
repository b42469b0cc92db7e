import type { LimitFunction } from 'p-limit';
import type { ManifestStore } from '../state/manifest.js';
import type { JobClient, JobEvent } from './job-types.js';
import type { JobBatchScan } from './batch-scan.js';
import type { StragglerRule } from './straggler-rule.js';
import type { ResultJudge } from './part-verdict.js';
import type { PartQuota } from '../quota/part-quota.js';

/** Everything the job steps share while one process drives a job. */
export interface JobContext {
  store: ManifestStore;
  client: JobClient;
  signal?: AbortSignal;
  limit: LimitFunction;
  emit: (event: JobEvent) => void;
  /** Set when an upload was retried in this process: a lost answer may have left a file on the server. */
  uploadRetried?: boolean;
  /** The shared listing of this job's batches for adoption after a crash (created on first use). */
  scan?: JobBatchScan;
  /** The provider quota shared with other jobs and processes (a database store only): a part's batch is created on its turn. */
  quota?: PartQuota;
  opts: {
    concurrency: number;
    pollIntervalMs: number;
    /** How long an ended batch may lack its output file while its error file does not answer every request (default 10 min). */
    resultFileGraceMs?: number;
    /** Finish an ended batch whose result files may be incomplete at once, its unanswered requests read as never run. */
    acceptMissingOutput?: boolean;
    retryBaseMs: number;
    noResubmit: boolean;
    maxResubmits: number;
    /** Keep the uploaded input files of finished parts on the server (default: deleted). */
    keepFiles?: boolean;
    downloadAttempts: number;
    /** Attempts of one upload (transient failures). */
    uploadAttempts?: number;
    /** Cancel in_progress batches whose last few requests stalled (see straggler-rule.ts); off when absent. */
    stragglers?: StragglerRule;
    /** The run's judge of result lines: each done part then records its verdict (see PartVerdictSchema). */
    judge?: ResultJudge;
  };
}
