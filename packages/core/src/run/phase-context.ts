// What the sending phases of a run share.
import type { JobOptions } from '../job/batch-job.js';
import type { JoinPlan } from '../join/join-plan.js';
import type { RealtimeRunner } from './realtime-runner.js';
import type { RunDeadline } from './run-deadline.js';
import type { RunEvent } from './run-options.js';
import type { RunState } from '../state/run-state.js';
import type { JobStore } from '../state/job-store.js';

/** One run's job directory, state, join plan, batch-job options, events, realtime runner and deadline. */
export interface RunPhaseContext {
  jobDir: string;
  /** Where the run state and the job's manifest are read and written. */
  store: JobStore;
  state: RunState;
  plan: JoinPlan;
  jobOptions: JobOptions;
  emit: (e: RunEvent) => void;
  realtime: RealtimeRunner;
  deadline: RunDeadline;
}
