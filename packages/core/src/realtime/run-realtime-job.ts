import { mkdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { directoryStore } from '../state/job-store.js';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { isIterable } from '../internal/iterable.js';
import { booleanField, functionField, parseOptions } from '../options.js';
import type { BatchRequestLine } from '../request/request-line.js';
import { isRealtimeClientInput, realtimeClientFor, RealtimeTransportSchema, type RealtimeClientInput } from './fast-client.js';
import { RealtimeOptionsSchema } from './run-realtime.js';
import { readRequestFile, runToFiles, type RealtimeChunkResult, type RealtimeJobSummary } from './run-to-files.js';
import type { RealtimeResultLine } from './realtime-types.js';

/** The realtime area of a job directory: answers log and results files. */
export const REALTIME_DIR = 'realtime';
/**
 * The answers log name a caller gives a round (`answersLog`); with several request files, each file
 * gets its own log derived from it (`answers-00001.jsonl` …, see {@link realtimeAnswersLog}).
 */
export const REALTIME_ANSWERS_FILE = 'answers.jsonl';

const client = z.custom<RealtimeClientInput>(isRealtimeClientInput, {
  error: 'must be an openai client or its chat.completions (an object with create())',
});
/** How a full openai client's requests travel (pool sized to `concurrency`); see `realtimeClientFor`. */
const transport = RealtimeTransportSchema.default('direct');
/** Results files are written as results complete; the join indexes them by custom_id. */
const unordered = booleanField().default(true);

/** Options of {@link runRealtimeJob}. */
export const RunRealtimeJobOptionsSchema = RealtimeOptionsSchema.omit({ client: true, answersLog: true, unordered: true }).extend({
  /** The job directory; results go to `<jobDir>/realtime/`. */
  jobDir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
  /** Chunk files of request lines (JSONL), in order; each gets its own results file. */
  requestFiles: z.array(z.string().min(1, { error: 'must be file paths' }), { error: 'must be a list of request file paths' }),
  /** Results file of each request file (default {@link realtimeResultFile}); `kbatch run` retry rounds name their own. */
  resultFiles: z.array(z.string().min(1, { error: 'must be file paths' }), { error: 'must be a list of result file paths' }).optional(),
  /**
   * Answers log of this round: used as is with one request file, and as the stem of one log per file
   * with several (`x/answers.jsonl` → `x/answers-00001.jsonl` …). Default: `<jobDir>/realtime/answers-00001.jsonl` …
   * per request file. A retry round needs its own, so its requests (final failures included) are sent again, not replayed.
   */
  answersLog: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }).optional(),
  /** The caller already holds the job lock (`kbatch run` does); otherwise `runRealtimeJob` takes it for the run. */
  lockHeld: booleanField().default(false),
  client,
  transport,
  unordered,
  /**
   * Called (and awaited) as soon as a request file's results file is complete (renamed into place), in
   * file order, so a caller can join and write that chunk while later files are still being answered.
   */
  onFileDone: z
    .custom<(chunk: RealtimeChunkResult, index: number) => void | Promise<void>>((v) => typeof v === 'function', { error: 'must be a function' })
    .optional(),
  /** Called with each final result line as it is written (replayed ones included) and its request file's index. */
  onResult: functionField<(line: RealtimeResultLine, index: number) => void>().optional(),
});
/** Options of {@link runRealtimeJob} as given. */
export type RunRealtimeJobOptions = z.input<typeof RunRealtimeJobOptionsSchema>;

/**
 * The answers log of request file number `index` (0-based): `<jobDir>/realtime/answers-00001.jsonl` …,
 * or, given a round's `answersLog` and several request files, `<stem>-00001<ext>` beside it.
 */
export function realtimeAnswersLog(jobDir: string, index: number, answersLog?: string): string {
  const n = String(index + 1).padStart(5, '0');
  if (answersLog === undefined) return join(jobDir, REALTIME_DIR, `answers-${n}.jsonl`);
  const ext = extname(answersLog);
  return `${answersLog.slice(0, answersLog.length - ext.length)}-${n}${ext}`;
}

/** The results file of request file number `index` (0-based) in a job directory. */
export function realtimeResultFile(jobDir: string, index: number): string {
  return join(jobDir, REALTIME_DIR, `results-${String(index + 1).padStart(5, '0')}.jsonl`);
}

/**
 * Run a job's request files through /v1/chat/completions (the realtime mode of `kbatch run`):
 * one engine for all files (concurrency, rpm/tpm, retries, adaptive limit as in `runRealtime`),
 * final results (successes, and final failures as markers) appended to each request file's answers
 * log as they arrive (see {@link realtimeAnswersLog}), and one results file per request file,
 * `<jobDir>/realtime/results-00001.jsonl` …, in the batch "request output object" shape (errors
 * included), so the join reads them as a batch's output: `{ requests, files: [resultFile] }`.
 * Resumable: after a crash or abort, calling it again with the same arguments sends only the
 * requests without a final result in their file's answers log (a logged final failure is replayed
 * as final; a new round with its own `answersLog` sends it again) and rewrites the results files.
 * Final request failures are result lines, not exceptions. Memory: one file's answers index at a
 * time (two around a file boundary), whatever the number of files. Takes the job lock (JOB_LOCKED
 * if another process holds it) unless `lockHeld`.
 * @returns counts, tokens and the results file of each request file (`chunks`, in order)
 * @example
 * const s = await runRealtimeJob({ jobDir, requestFiles: ['job/chunks/part-00001.jsonl'], client: openai, concurrency: 20, rpm: 600 });
 * await joinFiles({ input: 'reviews.csv', results: s.chunks.map((c) => c.resultFile), output: 'out.csv' });
 */
export async function runRealtimeJob(options: RunRealtimeJobOptions): Promise<RealtimeJobSummary> {
  const { jobDir, requestFiles, resultFiles, answersLog, lockHeld, onFileDone, onResult, client: given, transport: via, ...rest } = parseOptions(
    RunRealtimeJobOptionsSchema,
    options,
    'runRealtimeJob',
  );
  if (resultFiles && resultFiles.length !== requestFiles.length) {
    throw new KbatchError('OPTION_INVALID', `Invalid option \`resultFiles\`: must name one file per request file (${requestFiles.length}), got ${resultFiles.length}`, {
      field: 'resultFiles',
    });
  }
  const logOf = (i: number) => (answersLog !== undefined && requestFiles.length === 1 ? answersLog : realtimeAnswersLog(jobDir, i, answersLog));
  const store = directoryStore(jobDir);
  let lock: { release(): Promise<void> } | undefined;
  if (!lockHeld) {
    await mkdir(jobDir, { recursive: true });
    lock = await store.lock();
  }
  try {
    const { client, close } = realtimeClientFor(given, { connections: rest.concurrency, transport: via });
    try {
      return await runToFiles(
        requestFiles.map((file, i) => ({ lines: readRequestFile(file), resultFile: resultFiles?.[i] ?? realtimeResultFile(jobDir, i), requestFile: file, answersLog: logOf(i), store })),
        { ...rest, client, ...(onFileDone ? { onFileDone } : {}), ...(onResult ? { onResult } : {}) },
      );
    } finally {
      await close();
    }
  } finally {
    await lock?.release();
  }
}

const isRequests = (v: unknown) => (typeof v === 'string' && v !== '') || isIterable(v);

/** Options of {@link finishRealtime}. */
export const FinishRealtimeOptionsSchema = RealtimeOptionsSchema.omit({ client: true, unordered: true }).extend({
  /** The request lines without a result: a JSONL file path, or (async) iterable of request lines. */
  requests: z.custom<string | AsyncIterable<BatchRequestLine> | Iterable<BatchRequestLine>>(isRequests, {
    error: 'must be a request file path or an iterable of request lines',
  }),
  /** Where the results go (JSONL, batch output shape; written to `.tmp` and renamed when complete). */
  resultFile: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }),
  /** Answers log for resuming (default `<resultFile>.answers.jsonl`). */
  answersLog: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }).optional(),
  client,
  transport,
  unordered,
});
/** Options of {@link finishRealtime} as given. */
export type FinishRealtimeOptions = z.input<typeof FinishRealtimeOptionsSchema>;

/**
 * Run a batch job's leftovers realtime (`kbatch run --finish-realtime`): the stragglers of a batch
 * that is taking too long, or a retry round's few requests, sent to /v1/chat/completions and written
 * to `resultFile` in the batch output shape, for the join to read after the batch's own files (last
 * attempt wins). Resumable through its answers log like `runRealtimeJob`. Takes no job lock: the
 * caller (`kbatch run`) holds it, since the answers log is repaired (its torn tail cut) on open.
 * @example
 * await finishRealtime({ requests: 'job/retry-1.jsonl', resultFile: 'job/realtime/retry-1.results.jsonl', client: openai, concurrency: 20 });
 */
export async function finishRealtime(options: FinishRealtimeOptions): Promise<RealtimeJobSummary> {
  const { requests, resultFile, answersLog, client: given, transport: via, ...rest } = parseOptions(FinishRealtimeOptionsSchema, options, 'finishRealtime');
  const { client, close } = realtimeClientFor(given, { connections: rest.concurrency, transport: via });
  try {
    const log = answersLog ?? `${resultFile}.answers.jsonl`;
    return await runToFiles(
      [{ lines: typeof requests === 'string' ? readRequestFile(requests) : requests, resultFile, requestFile: typeof requests === 'string' ? requests : null, answersLog: log }],
      { ...rest, client },
    );
  } finally {
    await close();
  }
}
