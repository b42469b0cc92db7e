import { mkdir, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { openAnswersLog, loadAnsweredIds, repairAnswersLog, type AnsweredIds, type AnswersLog } from './answers-log.js';
import { readCancelMarker, writeCancelMarker } from './cancel-marker.js';
import { acquireJobLock, type JobLock } from './lock.js';
import { loadManifest, writeManifest, MANIFEST_FILE, type JobManifest } from './manifest.js';
import { loadRunState, saveRunState, type RunState } from './run-state.js';

/** Which lock: the job's (whoever drives its batches) or the run's (one `kbatch run` over the job). */
export type JobLockScope = 'job' | 'run';

/** An answers log opened for appending, with the ids it already answered (its torn tail cut first). */
export interface OpenedAnswersLog {
  answered: AnsweredIds;
  log: AnswersLog;
}

/**
 * Where a job's state lives: the manifest, the run state, the realtime answers logs, the lock and the cancel
 * marker. The pipeline reads and writes state only through this; data files (chunks, results, spooled input)
 * stay paths under `dir`. Every write is atomic: a crash leaves the old or the new state, never a torn one.
 */
export interface JobStore {
  /** The job directory: where the data files are (and, for the directory store, the state too). */
  readonly dir: string;
  /** The job's id where the store is keyed by it (Postgres); undefined for a directory (the directory names the job). */
  readonly jobId?: string;
  /** @throws KbatchError JOB_NOT_FOUND when the job has no manifest, JOB_INVALID when it is unreadable */
  readManifest(): Promise<JobManifest>;
  /** True when the job has a manifest (readable or not). */
  hasManifest(): Promise<boolean>;
  writeManifest(manifest: JobManifest): Promise<void>;
  /** Forget the manifest (a run that sent nothing starts its job afresh). */
  removeManifest(): Promise<void>;
  /** The run state, or null when the job is not a `kbatch run` job. @throws KbatchError JOB_INVALID when unreadable */
  readRunState(): Promise<RunState | null>;
  /** Save the run state (stamps its `updatedAt`). */
  writeRunState(state: RunState): Promise<void>;
  /** Open the answers log `name` for appending (created if missing), after cutting a torn tail off. Lock holders only. */
  openAnswersLog(name: string): Promise<OpenedAnswersLog>;
  /** The ids answered in the answers log `name` (read-only; a missing log is empty). */
  readAnsweredIds(name: string): Promise<AnsweredIds>;
  /** @throws KbatchError JOB_LOCKED when another live process holds it */
  lock(scope?: JobLockScope): Promise<JobLock>;
  /**
   * Check, just before a paid action, that the locks taken through this store are still held (where a lock can be
   * lost while its process lives on: a database connection). @throws KbatchError JOB_LOCK_LOST
   */
  assertLocked?(): Promise<void>;
  /** Ask the process driving the job to stop creating batches; returns the time recorded. */
  requestCancel(): Promise<string>;
  /** The time of a cancel request left by another process, or undefined. */
  cancelRequested(): Promise<string | undefined>;
}

/**
 * The job directory as a {@link JobStore}: `manifest.json`, `run.json`, `job.lock` (and `run/job.lock`),
 * `cancel-requested`, and answers logs at `name` under the directory (an absolute `name` is used as is, for
 * callers that give their own log file).
 * @example const store = directoryStore('.kbatch/jobs/kb-123'); const manifest = await store.readManifest();
 */
export function directoryStore(jobDir: string): JobStore {
  return new DirectoryJobStore(jobDir);
}

/** See {@link directoryStore}. */
export class DirectoryJobStore implements JobStore {
  constructor(readonly dir: string) {}

  readManifest(): Promise<JobManifest> {
    return loadManifest(this.dir);
  }

  async hasManifest(): Promise<boolean> {
    return (await readdir(this.dir)).includes(MANIFEST_FILE);
  }

  writeManifest(manifest: JobManifest): Promise<void> {
    return writeManifest(this.dir, manifest);
  }

  removeManifest(): Promise<void> {
    return rm(join(this.dir, MANIFEST_FILE), { force: true });
  }

  readRunState(): Promise<RunState | null> {
    return loadRunState(this.dir);
  }

  writeRunState(state: RunState): Promise<void> {
    return saveRunState(this.dir, state);
  }

  async openAnswersLog(name: string): Promise<OpenedAnswersLog> {
    const file = this.path(name);
    const answered = await repairAnswersLog(file);
    return { answered, log: await openAnswersLog(file) };
  }

  readAnsweredIds(name: string): Promise<AnsweredIds> {
    return loadAnsweredIds(this.path(name));
  }

  async lock(scope: JobLockScope = 'job'): Promise<JobLock> {
    if (scope === 'job') return acquireJobLock(this.dir);
    // The run's lock sits in run/ so that a run can drive its job (which takes the job's lock) while holding it.
    const runDir = join(this.dir, 'run');
    await mkdir(runDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    return acquireJobLock(runDir);
  }

  requestCancel(): Promise<string> {
    return writeCancelMarker(this.dir);
  }

  cancelRequested(): Promise<string | undefined> {
    return readCancelMarker(this.dir);
  }

  private path(name: string): string {
    return isAbsolute(name) ? name : join(this.dir, name);
  }
}
