// `kbatch run --detach`: what needs the submitting machine (its input, the prepare, the budget), then the job's first step queued.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isKbatchError, KbatchError } from '../errors.js';
import { detectFormat } from '../records/detect-format.js';
import { runPipeline, type PreparedRun } from '../run/run-job.js';
import type { RunJobOptions } from '../run/run-options.js';
import type { JobStore } from '../state/job-store.js';
import { PostgresJobStore } from '../state/postgres-store.js';
import type { RunState } from '../state/run-state.js';
import { lockUnlessHeld } from './run-step.js';
import { openStepQueue } from './step-queue.js';

/**
 * Options of {@link detachRun}: a run's options with its store in the database, and that database's URL. The `client`
 * sends nothing here: it names the provider and endpoint the run records for the workers.
 */
export type DetachRunOptions = Omit<RunJobOptions, 'store' | 'output'> & {
  store: JobStore;
  databaseUrl: string;
};

/** A detached run: what was prepared, and whether its first step was queued now (false: one was queued already). */
export interface DetachedRun extends PreparedRun {
  jobId: string;
  /** Where the workers write the run's rows (`kbatch results ID` prints them). */
  output: string;
  enqueued: boolean;
}

/**
 * Prepare a run here and leave the rest to workers: a file input is copied into the job's storage (workers elsewhere
 * read it for the join), the requests are rendered into chunk files (bad input fails here, with its row and field),
 * `maxCost` is checked, then the job's first step is queued. Nothing is uploaded. The rows go to
 * `<job storage>/output.<format>`. Running it again continues the same job (its step is queued once).
 * @throws KbatchError OPTION_INVALID (a store outside a database), INPUT_NOT_FOUND, BUDGET_EXCEEDED, and prepare's errors
 * @example await detachRun({ input: 'reviews.csv', model, prompt: 'Review: {{text}}', store, databaseUrl });
 */
export async function detachRun(options: DetachRunOptions): Promise<DetachedRun> {
  const { databaseUrl, store, ...run } = options;
  const jobId = store.jobId;
  if (jobId === undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `store`: a detached run keeps its state in a database (workers on other machines continue it)', { field: 'store' });
  const output = join(store.dir, `output.${run.outputFormat ?? 'jsonl'}`);
  // A job already started from a file (a run handed over to workers) keeps reading that file: the same path must be shared.
  const copied = (await store.readRunState())?.settings.spooled === false ? {} : await copiedInput(run);
  const prepared = await drain(runPipeline({ ...run, ...copied, output, store }, false, true)).catch((error: unknown) => {
    throw namingInput(error, copied.format === undefined ? null : { copy: join(store.dir, `input.${copied.format}`), given: run.input as string });
  });
  await markDetached(store);
  // On the store's own pool: the detach opens no connection for the queue.
  const queue = await openStepQueue({ databaseUrl, ...(store instanceof PostgresJobStore ? { pool: store.database.pool } : {}) });
  try {
    return { ...prepared, jobId, output, enqueued: await queue.enqueue(jobId) };
  } finally {
    await queue.close();
  }
}

/** A file input as a stream: the run saves it into the job's storage, where every worker can read it. */
async function copiedInput(run: Omit<RunJobOptions, 'store'>): Promise<Pick<RunJobOptions, 'input' | 'format'>> {
  if (typeof run.input !== 'string' || run.input === '-') return {};
  const path = resolve(run.cwd ?? process.cwd(), run.input);
  const found = await stat(path).catch(() => null);
  if (found === null || !found.isFile()) throw new KbatchError('INPUT_NOT_FOUND', `cannot read input "${run.input}": no such file`, { file: run.input });
  return { input: createReadStream(path), format: run.format ?? detectFormat(path) };
}

// Bad input is reported as the user named it, not as the copy in the job's storage.
function namingInput(error: unknown, input: { copy: string; given: string } | null): unknown {
  if (input === null || !isKbatchError(error)) return error;
  error.message = error.message.replaceAll(input.copy, input.given);
  if (error.file === input.copy) Object.defineProperty(error, 'file', { value: input.given });
  return error;
}

async function drain(pipeline: ReturnType<typeof runPipeline>): Promise<PreparedRun> {
  for (;;) {
    const next = await pipeline.next();
    if (next.done) return next.value as PreparedRun;
  }
}

/** The run state says workers drive the job (`wait` only watches): from then on, whatever the queue knows of it. */
async function markDetached(store: JobStore): Promise<void> {
  // Held by a worker's step (or a user's resume): the mark waits for the next detach; isDetached reads the output path meanwhile.
  const lock = await lockUnlessHeld(store);
  if (lock === null) return;
  try {
    const state = await store.readRunState();
    if (state !== null && state.detached !== true) await store.writeRunState({ ...state, detached: true });
  } finally {
    await lock.release();
  }
}

/**
 * True for a run that workers drive (`kbatch run --detach`): marked so, or its rows go to the job's own output file
 * (a detach stopped between its prepare and its mark).
 */
export function isDetached(state: RunState, jobDir: string): boolean {
  return state.detached === true || state.step !== undefined || state.settings.output === join(jobDir, `output.${state.settings.outputFormat}`);
}
