import { Readable } from 'node:stream';
import { z } from 'zod';
import { isIterable } from '../internal/iterable.js';
import {
  booleanField,
  functionField,
  nonEmptyField,
  OutputFormatSchema,
  outputField,
  positiveIntField,
  positiveMsField,
  rejectsField,
  signalField,
  wholeNumberField,
  writableField,
} from '../options.js';
import { ChatParamsSchema, checkTopLogprobs, RequestFieldsSchema } from '../request/request-options.js';
import { InputEncodingSchema, ReadRecordsOptionsSchema } from '../records/read-options.js';
import { MaxBatchTokensSchema, MaxBytesSchema, MaxRequestsSchema } from '../chunk/chunk-options.js';
import { AnswerOptionsSchema } from '../answers/answer-parser.js';
import { JoinRecordOptionsSchema } from '../join/join-plan.js';
import { RealtimeOptionsSchema } from '../realtime/run-realtime.js';
import { JobOptionsSchema } from '../job/batch-job.js';
import type { JobEvent, JobSummary } from '../job/job-types.js';
import { DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import type { RealtimeEvent } from '../realtime/realtime-types.js';
import type { JoinIssue } from '../join/join-issue.js';
import type { JsonSchema, AnswerSchema } from '../answers/answer-schema.js';
import { EstimateFields } from '../cost/estimate-options.js';
import type { JobEstimate } from '../cost/estimate-job.js';
import type { PriceOf, Spend } from '../cost/spend-types.js';
import { GoldFieldSchema } from '../eval/run-evaluation.js';
import { SampleOptionsSchema } from '../records/sample-records.js';
import type { SampleSummary } from './run-sample.js';
import type { EvalResult } from '../eval/eval-result.js';

/** Records given directly (the streaming/library form): plain objects, one per record. */
export type RecordsInput = AsyncIterable<Record<string, unknown>> | Iterable<Record<string, unknown>>;

// A rerun may omit what run.json already holds, so the request, read, chunk, join and job fields are optional here;
// each is the area's own schema (same rules, same messages), composed rather than re-declared.
const RequestFields = RequestFieldsSchema.partial().shape;
const ReadFields = ReadRecordsOptionsSchema.pick({ format: true, delimiter: true, onInvalidRecord: true, stdin: true }).shape;
const JoinFields = JoinRecordOptionsSchema.shape;
const JobFields = JobOptionsSchema.pick({
  client: true,
  provider: true,
  concurrency: true,
  pollIntervalMs: true,
  resultFileGraceMs: true,
  acceptMissingOutput: true,
  noResubmit: true,
  maxResubmits: true,
  keepFiles: true,
  cancelOnInterrupt: true,
  retryBaseMs: true,
  outputExpiresAfter: true,
  maxEnqueuedTokens: true,
}).shape;

/** Options of {@link runJob}: the prepare, split, job, join and output options in one object. */
export const RunJobOptionsSchema = z
  .object({
    ...ChatParamsSchema.shape,
    ...RequestFields,
    ...ReadFields,
    ...JobFields,
    ...EstimateFields,
    /** A file path, `-` for stdin, a byte Readable, or records (objects) as an (async) iterable or object-mode stream. */
    input: z
      .custom<string | Readable | RecordsInput>((v) => (typeof v === 'string' && v !== '') || v instanceof Readable || (typeof v === 'object' && isIterable(v)), {
        error: 'must be a path, "-", a Readable or an iterable of records',
      })
      .optional(),
    /** `utf8` (default: invalid bytes are reported) or `latin1`. */
    encoding: InputEncodingSchema.optional(),
    /** Read the prompt template from this file (instead of `prompt`). */
    templateFile: nonEmptyField('must be a file path').optional(),
    labels: AnswerOptionsSchema.shape.labels.unwrap().min(2, { error: 'must list at least two labels' }).optional(),
    /** JSON Schema object, a path to a JSON Schema file, or a zod schema. */
    schema: z
      .custom<JsonSchema | z.ZodType | AnswerSchema | string>((v) => (typeof v === 'object' && v !== null && !Array.isArray(v)) || (typeof v === 'string' && v !== ''), {
        error: 'must be a JSON Schema object, a path to one, or a zod schema',
      })
      .optional(),
    /** Add `confidence` to labels (default: on when `labels` and `logprobs` are both set). */
    confidence: AnswerOptionsSchema.shape.confidence.removeDefault().optional(),
    /**
     * Requests per chunk file (default: the provider's limit, 50,000 on kluster; 1,000 with `mode: 'realtime'`, which
     * bounds what its join holds in memory). `provider` (or the client's, from createClient) also sets `maxBytes`'
     * default, the allowed windows, and the lint every chunk passes before anything is uploaded.
     */
    maxRequests: MaxRequestsSchema.optional(),
    /** Bytes per chunk file: a number or a size like "6GB" (default: the provider's limit, 6GB on kluster). */
    maxBytes: MaxBytesSchema.optional(),
    /**
     * Most estimated prompt tokens per batch (chunk files and retry rounds), to stay under a provider's enqueued-token
     * limit such as OpenAI's per model and tier (default: the provider's documented budget, else none). An estimate
     * (characters / 4 + 4 per message): leave a margin. A request above it on its own is LINE_OVER_TOKEN_BUDGET before
     * anything is uploaded.
     */
    maxBatchTokens: MaxBatchTokensSchema.optional(),
    /**
     * Several models side by side (instead of `model`): every record runs on each, one batch per model per chunk, and
     * each output row holds each model's fields under `ALIAS.` (the id's last `/`-segment, made unique with `-2`…).
     * Each model is an ordinary run in `<jobDir>/models/<ALIAS>/` (resumed, retried and cached on its own). One model
     * here is the same as `model`.
     */
    models: z.array(nonEmptyField('must be a model name', 'must be a non-empty model name'), { error: 'must be a list of model names' }).min(1, { error: 'must list at least one model' }).optional(),
    /** With `models`: how many models' runs go at once (default 1, one after another: the memory and CPU of one run). */
    modelConcurrency: positiveIntField().optional(),
    /** Follow-up rounds for failed requests and invalid answers. */
    retries: wholeNumberField().default(2),
    jobDir: nonEmptyField('must be a directory path').optional(),
    cwd: z.string().optional(),
    /**
     * The request cache: a directory, or `false` for none (default: `KBATCH_CACHE_DIR`, else the user's cache
     * directory). A request whose answer is cached is neither uploaded nor sent; its row is joined from the cache.
     */
    cache: z.union([nonEmptyField('must be a directory path or false'), z.literal(false)], { error: 'must be a directory path or false' }).optional(),
    /** A path, `-` (the `stdout` option) or a Writable (left open); default `<jobDir>/output.<format>`. */
    output: outputField().optional(),
    outputFormat: OutputFormatSchema.optional(),
    /** Records that still failed also go here (format from the extension, default JSON Lines). */
    rejects: rejectsField().optional(),
    stdout: writableField().optional(),
    prefix: JoinFields.prefix.removeDefault().optional(),
    keepRaw: JoinFields.keepRaw.removeDefault().optional(),
    /**
     * How the requests run: `batch` (the Batch API), `realtime` (POST /v1/chat/completions with
     * `concurrency`, `rpm`, `tpm`), or `auto`: realtime below `autoThreshold` requests, batch from there up.
     * Settled once after prepare and kept in run.json, so a resume runs the same way. Realtime rows are written
     * as they finish: each chunk (default 1,000 requests) is joined and written, in input order, once its answers
     * are final (right away, or after the retry rounds when some of them failed).
     */
    mode: z.enum(['batch', 'realtime', 'auto'], { error: 'must be one of batch, realtime, auto' }).default('batch'),
    /** `mode: 'auto'` runs realtime below this many requests (and `finishRealtime` retry rounds below it). */
    autoThreshold: positiveIntField().default(DEFAULT_AUTO_THRESHOLD),
    /**
     * Realtime: write each row as soon as its answer is final instead of in input order (records skipped while
     * preparing come first; rows waiting for a retry round come with their chunk once it is final). Applies while
     * the requests are being sent; a rerun that finds them all answered joins in input order.
     */
    unordered: booleanField().optional(),
    /** Realtime: requests per minute (attempts, retries included). */
    rpm: RealtimeOptionsSchema.shape.rpm,
    /** Realtime: estimated tokens per minute. */
    tpm: RealtimeOptionsSchema.shape.tpm,
    /** Realtime: retries of one request after 429, 5xx, dropped connections and timeouts (default 5); `retries` counts follow-up rounds. */
    requestRetries: wholeNumberField().optional(),
    /** Realtime: per-attempt timeout (default 10 minutes). */
    requestTimeoutMs: positiveMsField().optional(),
    /**
     * Batch mode: run a retry round with fewer than `autoThreshold` requests realtime instead of as a new batch, and
     * finish stragglers realtime: a batch still in_progress that has done some requests, has at most
     * `stragglerThreshold` left and made no progress for `stragglerWaitMs` is cancelled (decision saved first);
     * its partial results are kept and only its requests without a result are sent realtime (not a retry round:
     * done even with `retries: 0`; never resubmitted as a batch).
     */
    finishRealtime: booleanField().optional(),
    /** `finishRealtime`: most requests a stalled batch may have left to be finished realtime (default 1% of its requests, at least 1, at most `autoThreshold`). */
    stragglerThreshold: positiveIntField().optional(),
    /** `finishRealtime`: time without progress before a batch's last requests count as stragglers (default 60,000 ms). */
    stragglerWaitMs: positiveMsField().optional(),
    /**
     * Batch completion window: one the provider offers (kluster: 1h, 3h, 6h, 12h, 24h; see `kbatch providers`); checked
     * before anything is written. A rerun may change it until a batch was created.
     */
    window: JobOptionsSchema.shape.window.unwrap().optional(),
    /**
     * Time for all sending phases of this call together (batches, realtime requests, straggler and retry rounds),
     * counted once the requests are prepared; when it is up the run stops with AWAIT_TIMEOUT, keeping every result
     * and realtime answer received (a rerun or resumeRun sends only what has none).
     */
    timeoutMs: JobOptionsSchema.shape.timeoutMs,
    /**
     * Prices for the summary's spend: `({ provider, model, mode, window }) => Price | undefined` (e.g. negotiated
     * rates). Unknown prices make costs unknown (null), never $0.
     */
    priceOf: functionField<PriceOf>().optional(),
    /**
     * The input column holding the trusted label: every written row is counted against it as it is written, and the
     * summary's `eval` (also `<jobDir>/eval.json`) is what `kbatch eval OUTPUT --gold COLUMN --json` gives for the
     * output. Missing from the input: EVAL_COLUMN_MISSING before anything is sent. A rerun may change it.
     */
    gold: GoldFieldSchema.optional(),
    /**
     * Run on a sample of the input: `{ size }` records (reservoir sampling, at most 1,000,000) or `{ fraction }` of them
     * (each record with that probability), drawn with `seed` (default 42), optionally `stratify`-ing by a column. The
     * same input and spec take the same records, in input order; the draw is kept in `<jobDir>/sample.json`, so a
     * resume takes the same sample (a rerun with another spec is JOB_MISMATCH once something was sent).
     */
    sample: SampleOptionsSchema.optional(),
    onProgress: functionField<(event: RunEvent) => void>().optional(),
    onIssue: functionField<(issue: JoinIssue) => void>().optional(),
    onWarning: functionField<(message: string) => void>().optional(),
    signal: signalField().optional(),
    /** Where the run's state lives (default: the job directory); its `dir` is the job directory (see openJobStore for Postgres). */
    store: JobOptionsSchema.shape.store,
  })
  .refine((o) => !(o.prompt !== undefined && o.templateFile !== undefined), { error: 'must not be combined with `prompt`', path: ['templateFile'] })
  .refine((o) => !(o.labels && o.schema), { error: 'must not be combined with `labels`', path: ['schema'] })
  .refine((o) => !(o.models && o.model !== undefined), { error: 'must not be combined with `model`', path: ['models'] })
  .refine((o) => !o.models || new Set(o.models).size === o.models.length, { error: 'must not list a model twice', path: ['models'] })
  .superRefine(checkTopLogprobs);

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
  /** Of `records`: those answered from the request cache (nothing was sent for them). */
  cached: number;
  /** The tokens of those cached answers (as stored; not in `promptTokens`/`completionTokens`): what the cache saved. */
  cachedTokens: { prompt: number; completion: number };
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
  /** With `dryRun` (then nothing was sent and the counts above are 0), or `maxCost`: what the run was estimated to cost. */
  estimate?: JobEstimate;
  /**
   * Tokens and cost per model from the answers' usage (every attempt, by batch or realtime price), what the batch
   * discount and the cache saved, and the prices' date; also written to `<jobDir>/spend.json`.
   */
  spend: Spend;
  /** With `gold`: the evaluation of the rows written, as `kbatch eval --json` prints it (also `<jobDir>/eval.json`). */
  eval?: EvalResult;
  /** With `gold`: USD per correct label (the spend's cost over `eval.correct`); null when the cost is unknown or nothing was correct. */
  costPerCorrect?: number | null;
  /** With `sample`: how many records were taken, out of how many, and how. */
  sample?: SampleSummary;
}
