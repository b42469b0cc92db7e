import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../internal/write-json-atomic.js';
import { parseStateFile } from './state-file.js';
import { InputFingerprintSchema } from '../run/input-fingerprint.js';
import { InputEncodingSchema } from '../records/read-options.js';
import { SampleOptionsSchema } from '../records/sample-records.js';
import { PriceFileSchema } from '../cost/price-file.js';

/** The run-state file in a job directory made by `runJob` (its presence marks a `kbatch run` job). */
export const RUN_STATE_FILE = 'run.json';

/** What a run persists of its options: enough to continue it, never the API key or the client. */
export const RunSettingsSchema = z.object({
  /** Absolute input path (the spooled copy for stdin/stream input). */
  input: z.string(),
  spooled: z.boolean(),
  /** Size, mtime and sha256 of the input as prepared (absent in runs from before it was kept, or until prepared). */
  inputFingerprint: InputFingerprintSchema.optional(),
  format: z.enum(['csv', 'tsv', 'jsonl', 'json']),
  delimiter: z.string().optional(),
  /** How the input is decoded (absent: utf8). */
  encoding: InputEncodingSchema.optional(),
  onInvalidRecord: z.enum(['error', 'skip']),
  /** Request options (model, prompt without the answer instruction, system, chat params, idColumn). */
  request: z.record(z.string(), z.unknown()),
  labels: z.array(z.string()).optional(),
  /** The answer schema as JSON Schema (a zod schema is stored converted). */
  jsonSchema: z.record(z.string(), z.unknown()).optional(),
  /** `zod` when the run was given a zod schema (only its JSON Schema can be stored: a resume without it warns). */
  schemaKind: z.enum(['json', 'zod']).optional(),
  confidence: z.boolean(),
  maxRequests: z.number().optional(),
  maxBytes: z.number().optional(),
  /** Most estimated prompt tokens per batch (absent: no budget). */
  maxBatchTokens: z.number().optional(),
  retries: z.number(),
  window: z.string(),
  /** Seconds the batches' output files are kept (`output_expires_after`), recorded in the job's manifest. */
  outputExpiresAfter: z.number().optional(),
  /** The provider and base URL the run's requests go to (absent in runs from before providers were recorded; never the key). */
  provider: z.string().optional(),
  baseURL: z.string().optional(),
  /** Output path; null = the caller's stdout / rows only. */
  output: z.string().nullable(),
  outputFormat: z.enum(['jsonl', 'csv', 'tsv', 'json']),
  rejects: z.string().nullable(),
  prefix: z.string(),
  keepRaw: z.boolean(),
  /** How the run was asked to send its requests (`auto` is settled into the state's `mode` after prepare). */
  mode: z.enum(['batch', 'realtime', 'auto']).default('batch'),
  autoThreshold: z.number().optional(),
  /** Realtime settings kept so `kbatch resume DIR` paces requests as the run was told to. */
  rpm: z.number().optional(),
  tpm: z.number().optional(),
  requestRetries: z.number().optional(),
  requestTimeoutMs: z.number().optional(),
  /** Concurrency the run was given (uploads in batch mode, requests in realtime); absent = the mode's default. */
  concurrency: z.number().optional(),
  /** The shared quota's limit the run was given (`maxEnqueuedTokens`; a rerun or resume may change it); absent = the provider's. */
  maxEnqueuedTokens: z.number().optional(),
  finishRealtime: z.boolean().default(false),
  /** With finishRealtime: the straggler rule's threshold (absent = 1% of a batch, capped by autoThreshold) and wait (ms). */
  stragglerThreshold: z.number().optional(),
  stragglerWaitMs: z.number().optional(),
  /** The input column the written rows are evaluated against (`gold`; a rerun may change it). */
  gold: z.string().optional(),
  /** The sample the run reads (its draw is in the job's sample.json); absent: every record. */
  sample: SampleOptionsSchema.optional(),
  /** The price rows the run was given (`prices`, read from the file when it was one): a resume prices it the same unless given others. */
  prices: PriceFileSchema.optional(),
});
export type RunSettings = z.output<typeof RunSettingsSchema>;

/**
 * One retry part: which original chunk its requests came from. A batch round's part is null until
 * addChunks has added it; a realtime round's results go to `results` (job-relative) instead.
 */
const RetryPartSchema = z.object({
  chunk: z.string(),
  part: z.string().nullable(),
  file: z.string(),
  requests: z.number(),
  results: z.string().optional(),
  /** The round's batch these requests share with other chunks' (absent in older runs: a batch of its own). */
  batch: z.number().optional(),
});

/** A detached run's latest step, as the `kbatch worker` that ran it records it (what `status` and `wait` read). */
export const WorkerStepSchema = z.object({
  /** The job's phase when the step started: prepare, submit, poll, retry, join, done. */
  name: z.string(),
  /** done, running, locked, stopped, retrying, failed (for good). */
  outcome: z.string(),
  /** 1 for a step's first try, 2 for its first retry, … */
  attempt: z.number(),
  at: z.string(),
  code: z.string().optional(),
  message: z.string().optional(),
  /** With a finished run: its counts (`wait` exits 3 when records failed). */
  records: z.number().optional(),
  succeeded: z.number().optional(),
  failed: z.number().optional(),
});
export type WorkerStep = z.output<typeof WorkerStepSchema>;

/**
 * The durable state of a run (`run.json`), written atomically after every phase so a rerun (or
 * `kbatch resume DIR`) continues where the last one stopped.
 */
export const RunStateSchema = z.object({
  version: z.literal(1),
  kind: z.literal('kbatch-run'),
  createdAt: z.string(),
  updatedAt: z.string(),
  settings: RunSettingsSchema,
  /** init → prepared (chunks written, job created) → submitted (round 0 finished) → joined (outputs written). */
  phase: z.enum(['init', 'prepared', 'submitted', 'joined']),
  /** Original chunks: job part index and request count, in input order. */
  chunks: z.array(z.object({ part: z.string(), requests: z.number() })).default([]),
  recordsRead: z.number().default(0),
  /** Records rejected while preparing (with onInvalidRecord: 'skip'). */
  skipped: z.number().default(0),
  /** Requests the request cache answered while preparing (in no chunk; their results are in the job's cached results file). */
  cached: z.number().optional(),
  /** How the requests run, settled once after prepare (a resume keeps it); absent = batch (older runs). */
  mode: z.enum(['batch', 'realtime']).optional(),
  /** Retry rounds in order, each run as a batch (parts added to the job) or realtime (`--finish-realtime`, realtime mode). */
  rounds: z
    .array(z.object({ round: z.number(), via: z.enum(['batch', 'realtime']).default('batch'), parts: z.array(RetryPartSchema), finished: z.boolean().default(false) }))
    .default([]),
  /**
   * Leftovers of straggler batches (cancelled by kbatch, see the manifest part's `straggler`): the requests with no
   * result, written to `file` and sent realtime into `results` (job-relative). Not a retry round: they are finished
   * whatever `retries` is, before the next round is planned, and read as part of their batch part's attempt.
   */
  stragglers: z
    .array(z.object({ part: z.string(), file: z.string(), requests: z.number(), results: z.string(), finished: z.boolean().default(false) }))
    .default([]),
  /** Per planned round: failed requests it left out because a retry cannot change their cause, counted per cause. */
  notRetried: z.array(z.object({ round: z.number(), causes: z.record(z.string(), z.number()) })).optional(),
  /** Set once no further retry round is needed (or allowed). */
  retriesDone: z.boolean().default(false),
  /** Set by `kbatch run --detach`: workers drive the job, `kbatch wait` only watches it. */
  detached: z.boolean().optional(),
  /** A detached run's latest worker step. */
  step: WorkerStepSchema.optional(),
});
export type RunState = z.output<typeof RunStateSchema>;

/**
 * Read a job directory's run state, or null when it holds no `kbatch run` job.
 * @throws KbatchError JOB_INVALID when run.json exists but is unreadable
 */
export async function loadRunState(jobDir: string): Promise<RunState | null> {
  const file = join(jobDir, RUN_STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
  return parseStateFile(file, text, RunStateSchema, 'run state');
}

/** True when `jobDir` holds a readable run.json (a single-model run's job; see `isRunJob` for any run's). */
export async function hasRunState(jobDir: string): Promise<boolean> {
  return (await loadRunState(jobDir).catch(() => null)) !== null;
}

/** Write the run state atomically and durably (temp file, fsync, rename, directory fsync): a crash leaves the old or the new state. */
export async function saveRunState(jobDir: string, state: RunState): Promise<void> {
  state.updatedAt = new Date().toISOString();
  await writeJsonAtomic(join(jobDir, RUN_STATE_FILE), state);
}
