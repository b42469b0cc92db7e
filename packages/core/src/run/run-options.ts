import { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { isIterable } from '../internal/iterable.js';
import { ChatParamsSchema } from '../request/request-options.js';
import { InputEncodingSchema, InputFormatSchema } from '../records/read-options.js';
import { JobOptionsSchema } from '../job/run-job.js';
import type { JobEvent, JobSummary } from '../job/types.js';
import { DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import type { RealtimeEvent } from '../realtime/types.js';
import type { JoinIssue } from '../join/join-issue.js';
import type { JsonSchema, AnswerSchema } from '../answers/answer-schema.js';

const fn = <T>(what = 'must be a function') => z.custom<T>((v) => typeof v === 'function', { error: what });

/** Records given directly (the streaming/library form): plain objects, one per record. */
export type RecordsInput = AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>;

/** Options of {@link runJob}: the prepare, split, job, join and output options in one object. */
export const RunJobOptionsSchema = z
  .object({
    ...ChatParamsSchema.shape,
    /** A file path, `-` for stdin, a byte Readable, or records (objects) as an (async) iterable or object-mode stream. */
    input: z
      .custom<string | Readable | RecordsInput>((v) => (typeof v === 'string' && v !== '') || v instanceof Readable || (typeof v === 'object' && isIterable(v)), {
        error: 'must be a path, "-", a Readable or an iterable of records',
      })
      .optional(),
    format: InputFormatSchema.optional(),
    delimiter: z.string().length(1, { error: 'must be a single character' }).optional(),
    /** `utf8` (default: invalid bytes are reported) or `latin1`. */
    encoding: InputEncodingSchema.optional(),
    onInvalidRecord: z.enum(['error', 'skip'], { error: 'must be "error" or "skip"' }).default('error'),
    /** Where `-` reads from (default process.stdin). */
    stdin: z.custom<NodeJS.ReadableStream>((v) => typeof v === 'object' && v !== null, { error: 'must be a readable stream' }).optional(),
    model: z.string({ error: 'must be a model name' }).min(1, { error: 'must be a non-empty model name' }).optional(),
    prompt: z.string({ error: 'must be a template string' }).min(1, { error: 'must be a non-empty template' }).optional(),
    /** Read the prompt template from this file (instead of `prompt`). */
    templateFile: z.string({ error: 'must be a file path' }).min(1, { error: 'must be a file path' }).optional(),
    system: z.string({ error: 'must be a template string' }).min(1, { error: 'must be a non-empty template' }).optional(),
    idColumn: z.string({ error: 'must be a column name' }).min(1, { error: 'must be a non-empty column name' }).optional(),
    labels: z.array(z.string(), { error: 'must be a list of labels' }).min(2, { error: 'must list at least two labels' }).optional(),
    /** JSON Schema object, a path to a JSON Schema file, or a zod schema. */
    schema: z
      .custom<JsonSchema | z.ZodType | AnswerSchema | string>((v) => (typeof v === 'object' && v !== null && !Array.isArray(v)) || (typeof v === 'string' && v !== ''), {
        error: 'must be a JSON Schema object, a path to one, or a zod schema',
      })
      .optional(),
    /** Add `confidence` to labels (default: on when `labels` and `logprobs` are both set). */
    confidence: z.boolean({ error: 'must be true or false' }).optional(),
    /** Requests per chunk file (default 50,000; 1,000 with `mode: 'realtime'`, which bounds what its join holds in memory). */
    maxRequests: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).optional(),
    maxBytes: z.union([z.number(), z.string()], { error: 'must be a number of bytes or a size like 6GB or 512MiB' }).optional(),
    /** Follow-up rounds for failed requests and invalid answers. */
    retries: z.int({ error: 'must be a whole number ≥ 0' }).min(0, { error: 'must be a whole number ≥ 0' }).default(2),
    jobDir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }).optional(),
    cwd: z.string().optional(),
    /** A path, `-` (the `stdout` option) or a Writable (left open); default `<jobDir>/output.<format>`. */
    output: z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path, "-" or a Writable' }).optional(),
    outputFormat: z.enum(['jsonl', 'csv', 'tsv', 'json'], { error: 'must be one of jsonl, csv, tsv, json' }).optional(),
    /** Records that still failed also go here (format from the extension, default JSON Lines). */
    rejects: z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path or a Writable' }).optional(),
    stdout: z.instanceof(Writable, { error: 'must be a Writable' }).optional(),
    prefix: z.string().regex(/^[^\s.]*$/, { error: 'must not contain spaces or dots' }).optional(),
    keepRaw: z.boolean({ error: 'must be true or false' }).optional(),
    /**
     * How the requests run: `batch` (the Batch API), `realtime` (POST /v1/chat/completions with
     * `concurrency`, `rpm`, `tpm`), or `auto`: realtime below `autoThreshold` requests, batch from there up.
     * Settled once after prepare and kept in run.json, so a resume runs the same way. Realtime rows are written
     * as they finish: each chunk (default 1,000 requests) is joined and written, in input order, once its answers
     * are final (right away, or after the retry rounds when some of them failed).
     */
    mode: z.enum(['batch', 'realtime', 'auto'], { error: 'must be one of batch, realtime, auto' }).default('batch'),
    /** `mode: 'auto'` runs realtime below this many requests (and `finishRealtime` retry rounds below it). */
    autoThreshold: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).default(DEFAULT_AUTO_THRESHOLD),
    /**
     * Realtime: write each row as soon as its answer is final instead of in input order (records skipped while
     * preparing come first; rows waiting for a retry round come with their chunk once it is final). Applies while
     * the requests are being sent; a rerun that finds them all answered joins in input order.
     */
    unordered: z.boolean({ error: 'must be true or false' }).optional(),
    /** Realtime: requests per minute (attempts, retries included). */
    rpm: z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' }).optional(),
    /** Realtime: estimated tokens per minute. */
    tpm: z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' }).optional(),
    /** Realtime: retries of one request after 429, 5xx, dropped connections and timeouts (default 5); `retries` counts follow-up rounds. */
    requestRetries: z.int({ error: 'must be a whole number ≥ 0' }).min(0, { error: 'must be a whole number ≥ 0' }).optional(),
    /** Realtime: per-attempt timeout (default 10 minutes). */
    requestTimeoutMs: z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' }).optional(),
    /**
     * Batch mode: run a retry round with fewer than `autoThreshold` requests realtime instead of as a new batch, and
     * finish stragglers realtime: a batch still in_progress that has done some requests, has at most
     * `stragglerThreshold` left and made no progress for `stragglerWaitMs` is cancelled (decision saved first);
     * its partial results are kept and only its requests without a result are sent realtime (not a retry round:
     * done even with `retries: 0`; never resubmitted as a batch).
     */
    finishRealtime: z.boolean({ error: 'must be true or false' }).optional(),
    /** `finishRealtime`: most requests a stalled batch may have left to be finished realtime (default 1% of its requests, at least 1, at most `autoThreshold`). */
    stragglerThreshold: z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).optional(),
    /** `finishRealtime`: time without progress before a batch's last requests count as stragglers (default 60,000 ms). */
    stragglerWaitMs: z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' }).optional(),
    client: JobOptionsSchema.shape.client,
    /** Batch completion window (one of COMPLETION_WINDOWS); checked before anything is written. A rerun may change it until a batch was created. */
    window: JobOptionsSchema.shape.window.unwrap().optional(),
    concurrency: JobOptionsSchema.shape.concurrency,
    pollIntervalMs: JobOptionsSchema.shape.pollIntervalMs,
    /**
     * Time for all sending phases of this call together (batches, realtime requests, straggler and retry rounds),
     * counted once the requests are prepared; when it is up the run stops with AWAIT_TIMEOUT, keeping every result
     * and realtime answer received (a rerun or resumeRun sends only what has none).
     */
    timeoutMs: JobOptionsSchema.shape.timeoutMs,
    noResubmit: JobOptionsSchema.shape.noResubmit,
    maxResubmits: JobOptionsSchema.shape.maxResubmits,
    keepFiles: JobOptionsSchema.shape.keepFiles,
    cancelOnInterrupt: JobOptionsSchema.shape.cancelOnInterrupt,
    retryBaseMs: JobOptionsSchema.shape.retryBaseMs,
    onProgress: fn<(event: RunEvent) => void>().optional(),
    onIssue: fn<(issue: JoinIssue) => void>().optional(),
    onWarning: fn<(message: string) => void>().optional(),
    signal: z.instanceof(AbortSignal, { error: 'must be an AbortSignal' }).optional(),
  })
  .refine((o) => !(o.prompt !== undefined && o.templateFile !== undefined), { error: 'must not be combined with `prompt`', path: ['templateFile'] })
  .refine((o) => !(o.labels && o.schema), { error: 'must not be combined with `labels`', path: ['schema'] });

/** Options of {@link runJob} as given. */
export type RunJobOptions = z.input<typeof RunJobOptionsSchema>;
/** Options after validation. */
export type ResolvedRunJobOptions = z.output<typeof RunJobOptionsSchema>;

/**
 * A row of {@link runRecords}: the input record's fields and the added ones. With a zod `schema`, its top-level fields
 * are typed, named with `prefix`, and null when the answer was missing or invalid (then `error` says why).
 * @example type Row = RunRecordRow<typeof Ticket, 'kb_'> // Record<string, unknown> & { kb_category: 'bug' | 'other' | null }
 */
export type RunRecordRow<S = undefined, P extends string = ''> = Record<string, unknown> &
  ([S] extends [z.ZodObject] ? ObjectFields<z.output<S>, P> : [S] extends [WholeAnswer] ? { [K in `${P}answer`]: z.output<S> | null } : unknown);

// As the runtime does: an object schema adds its declared top-level fields; a schema that declares no properties adds
// the answer whole as `answer`. Anything else (records, transforms, unions, nullable) stays Record<string, unknown>.
type ObjectFields<O, P extends string> = { [K in keyof O as K extends string ? `${P}${K}` : never]-?: Exclude<O[K], undefined> | null };
type WholeAnswer = z.ZodArray | z.ZodString | z.ZodNumber | z.ZodBoolean | z.ZodEnum | z.ZodLiteral;

/** What a run reports while it works: the job's events plus the run's own phases. */
export type RunEvent =
  | JobEvent
  /** `round` is set on a retry round's phase (the round its `retry-round` event announced, or one a resume continues). */
  | { type: 'phase'; phase: 'spool' | 'continue' | 'output' | 'prepare' | 'submit' | 'stragglers' | 'retry' | 'join' | 'done'; message: string; round?: number }
  | { type: 'retry-round'; round: number; requests: number; parts: number; via: 'batch' | 'realtime' }
  /** A realtime request finished or retried (`done` counts answered + finally failed of `total` in this step). */
  | { type: 'realtime'; event: RealtimeEvent; done: number; failed: number; total: number };

/** The outcome of a run (the CLI prints it on stderr). */
export interface RunSummary {
  jobId: string | null;
  jobDir: string;
  /** Input records read (including records skipped while preparing). */
  records: number;
  succeeded: number;
  /** Records that did not succeed in the end (failed requests, invalid answers, missing results, skipped records). */
  failed: number;
  /** Of `failed`: request errors / invalid answers / no result / rejected before any request was made. */
  requestErrors: number;
  invalidAnswers: number;
  missing: number;
  skipped: number;
  /** Records retried at least once. */
  retried: number;
  /** Retry requests sent over all rounds. */
  retryRequests: number;
  rounds: number;
  /**
   * Failed requests no retry round sent again because a retry cannot change their cause, counted per cause over all
   * rounds: `http_<status>` (400, 401, 403, 404, 422, …), `model_not_found`, the code of a batch's validation error
   * (`line_too_long`, `too_many_requests`, …), `batch_failed` (an innocent request of a failed batch past the
   * resubmission limit), `batch_expired_limit`, `result_missing`, `invalid_response`. E.g.
   * `{ model_not_found: 3, http_400: 2 }`; `{}` when nothing was held back.
   */
  notRetried: Record<string, number>;
  /** Tokens over every attempt (retries included). */
  promptTokens: number;
  completionTokens: number;
  /** Batches created (chunks, resubmits of expired batches, retries). */
  batches: number;
  /** How the job's requests ran (`auto` settled to one of these). */
  mode: 'batch' | 'realtime';
  /** Requests sent through /v1/chat/completions (realtime mode, straggler leftovers and realtime retry rounds). */
  realtimeRequests: number;
  /** Of `realtimeRequests`: leftovers of straggler batches (cancelled by `finishRealtime`). */
  stragglerRequests: number;
  /** Results whose custom_id matched no record; extra results for one record. */
  unknownResults: number;
  duplicateResults: number;
  /** Wall time of this call. */
  wallMs: number;
  /** True when this call continued an earlier run of the same job directory. */
  resumed: boolean;
  outputs: { output: string | null; rejects: string | null };
  /** The batch job's own summary (null when there were no requests). */
  job: JobSummary | null;
}
