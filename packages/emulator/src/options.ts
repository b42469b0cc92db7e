import { z } from 'zod';

const nonNegInt = (what = 'a non-negative integer') =>
  z.int({ error: `must be ${what}` }).min(0, { error: `must be ${what}` });
const posInt = (what = 'a positive integer') => z.int({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });
const rate = z
  .number({ error: 'must be a number between 0 and 1' })
  .min(0, { error: 'must be a number between 0 and 1' })
  .max(1, { error: 'must be a number between 0 and 1' });

/** Route patterns a fault can be limited to, e.g. 'POST /v1/files' or 'GET /v1/batches/:id'. */
const routePattern = z.string().regex(/^(GET|POST|DELETE|PUT|PATCH) \/\S*$/, {
  error: "must be a 'METHOD /v1/path' route pattern",
});

// A completion window: a whole number of hours or days.
const WINDOW = z.string().regex(/^\d+[hd]$/, { error: 'must be windows such as 24h or 7d' });

/** Injected failures; every field is off by default. */
export const FaultOptionsSchema = z.object({
  /** Added delay before every matched request is handled. */
  latencyMs: nonNegInt('a non-negative integer (ms)').optional(),
  /** Fraction of matched requests answered 429 with Retry-After. */
  rate429: rate.optional(),
  /** Retry-After sent with injected 429s (also sent as retry-after-ms). */
  retryAfterSeconds: z
    .number({ error: 'must be a non-negative number (seconds)' })
    .min(0, { error: 'must be a non-negative number (seconds)' })
    .optional(),
  /** Fraction of matched requests answered 500/502/503. */
  rate5xx: rate.optional(),
  /** Fraction of matched requests whose connection is destroyed without a response. */
  dropRate: rate.optional(),
  /**
   * Fraction of matched requests that are fully processed (the job, batch or file is created) and then lose their
   * answer: the connection is destroyed instead of sending the response, like a timeout after the server committed.
   */
  loseResponseRate: rate.optional(),
  /** Fraction of batch lines that fail (status 500 in the error file). */
  lineFailureRate: rate.optional(),
  /** HTTP status of the lines `lineFailureRate` fails (default 500; e.g. 400 for a deterministic failure). */
  lineFailureStatus: z
    .int({ error: 'must be an HTTP error status (400-599)' })
    .min(400, { error: 'must be an HTTP error status (400-599)' })
    .max(599, { error: 'must be an HTTP error status (400-599)' })
    .optional(),
  /** In-flight requests per route beyond which the emulator answers 429. */
  concurrencyCap: posInt().optional(),
  /** A batch expires after processing this many lines (partial output kept). */
  expireAfterLines: nonNegInt().optional(),
  /**
   * The last N lines of every batch are stragglers: each waits `slowTailMs` before it runs, so `request_counts` stall
   * at total − N. A cancel during that wait lets the straggler in flight finish (it is in the output); the rest never run.
   */
  slowTailLines: posInt().optional(),
  /** How long each of the `slowTailLines` lines waits before it runs (default 60,000 ms). */
  slowTailMs: nonNegInt('a non-negative integer (ms)').optional(),
  /**
   * Together personality: an ended batch with both result files names its error file first: its output file is left
   * out of its first N reads (GET or listing, counted per batch). Together documents no order between the two.
   */
  outputFileLagReads: nonNegInt().optional(),
  /** Limit the HTTP faults to these routes ('POST /v1/files', 'GET /v1/batches/:id', …); all routes if absent. */
  routes: z.array(routePattern, { error: 'must be an array of route patterns' }).optional(),
});
/** Fault options as a caller writes them. */
export type FaultOptions = z.input<typeof FaultOptionsSchema>;

/** Another OpenAI-compatible endpoint that executes chat requests and batch lines. */
export const UpstreamOptionsSchema = z.object({
  url: z.url({ error: 'must be an http(s) URL' }),
  apiKey: z.string({ error: 'must be a string' }).optional(),
  concurrency: posInt().default(4),
  /** Attempts per request on 429/5xx/network errors (1 = no retry). */
  maxAttempts: posInt().default(4),
});
/** Upstream options as a caller writes them. */
export type UpstreamOptions = z.input<typeof UpstreamOptionsSchema>;

/** Options of {@link startEmulator}; all optional. */
export const EmulatorOptionsSchema = z
  .object({
    port: z
      .int({ error: 'must be a port number (0-65535)' })
      .min(0, { error: 'must be a port number (0-65535)' })
      .max(65535, { error: 'must be a port number (0-65535)' })
      .default(0),
    host: z.string({ error: 'must be a host name or address' }).min(1, { error: 'must be a host name or address' }).default('127.0.0.1'),
    dataDir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }).optional(),
    apiKey: z.string({ error: 'must be a string' }).min(1, { error: 'must be a non-empty string' }).optional(),
    timeScale: z
      .number({ error: 'must be a positive number' })
      .positive({ error: 'must be a positive number' })
      .default(1),
    validationMs: nonNegInt('a non-negative integer (ms)').default(100),
    lineMs: z
      .number({ error: 'must be a non-negative number (ms)' })
      .min(0, { error: 'must be a non-negative number (ms)' })
      .default(1),
    finalizingMs: nonNegInt('a non-negative integer (ms)').default(100),
    ftStepMs: nonNegInt('a non-negative integer (ms)').default(200),
    maxRequestsPerBatch: posInt().default(50_000),
    /**
     * Completion windows `POST /v1/batches` accepts (default kluster's 1h, 3h, 6h, 12h, 24h), each `<n>h` or `<n>d`, or
     * a range `{ min, max }` of them; another is a 400 naming them. A provider personality (`kbatch emulator --provider openai`) sets these.
     */
    completionWindows: z
      .union(
        [
          z.array(WINDOW, { error: 'must be a list of windows such as 24h or 7d' }).min(1, { error: 'must list at least one window' }),
          // Groq's "durations from 24h to 7d": any whole number of hours or days in the range.
          z.object({ min: WINDOW, max: WINDOW }).strict(),
        ],
        { error: 'must be a list of windows such as 24h or 7d, or a range { min, max }' },
      )
      .default(['1h', '3h', '6h', '12h', '24h']),
    /** Accept the key only as `Authorization: Bearer KEY` (OpenAI, Together, Groq), not bare (kluster takes both). */
    bearerOnly: z.boolean({ error: 'must be a boolean' }).default(false),
    /** Fail a batch's validation when its lines name more than one model, as OpenAI does (`model_mismatch` per line). */
    oneModelPerFile: z.boolean({ error: 'must be a boolean' }).default(false),
    maxBatchBytes: posInt().default(6 * 1024 ** 3),
    /** Bytes allowed per batch input line (without its newline); a longer line fails validation with `line_too_long`. */
    maxLineBytes: posInt().default(10 * 1024 ** 2),
    seed: z.int({ error: 'must be an integer' }).default(0),
    /**
     * Write a marker line to the error file for every request that never ran when a batch expires or is cancelled
     * (`{custom_id, response: null, error: {code: 'batch_expired' | 'batch_cancelled', message}}`), as OpenAI-style
     * servers do. Off by default: kluster leaves unrun requests out of both files.
     */
    unrunErrorLines: z.boolean({ error: 'must be a boolean' }).default(false),
    faults: FaultOptionsSchema.nullable().optional(),
    /**
     * Speak as this provider's native API besides the OpenAI-style routes: `anthropic` adds Message Batches and
     * Messages; `gemini` the Gemini Developer API v1beta routes (key in x-goog-api-key, Google error shapes). Both
     * take the bare origin as their base URL. `together` answers files and batches as Together does (presigned
     * uploads with purpose batch-api, wrapped create, upper-case statuses, bare-array list; base URL with /v1).
     */
    provider: z.enum(['anthropic', 'gemini', 'together'], { error: "must be 'anthropic', 'gemini' or 'together'" }).optional(),
    upstream: UpstreamOptionsSchema.optional(),
    responder: z
      .custom<(body: ChatRequestBody) => unknown>((v) => typeof v === 'function', { error: 'must be a function' })
      .optional(),
  })
  .strict();

/** Options of {@link startEmulator} as a caller writes them. */
export type EmulatorOptions = z.input<typeof EmulatorOptionsSchema>;
/** Options after defaults. */
export type ResolvedEmulatorOptions = z.output<typeof EmulatorOptionsSchema>;
/** Fault options after validation. */
export type ResolvedFaults = z.output<typeof FaultOptionsSchema>;

/** A chat completion request body (the fields the emulator reads). */
export interface ChatRequestBody {
  model: string;
  messages: Array<{ role: string; content: unknown }>;
  stream?: boolean;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  stop?: string | string[] | null;
  max_completion_tokens?: number | null;
  max_tokens?: number | null;
  seed?: number | null;
  [key: string]: unknown;
}

/** Thrown for invalid options: "Invalid option `timeScale`: must be a positive number, got -1". */
export class EmulatorOptionError extends Error {
  readonly code = 'OPTION_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmulatorOptionError';
  }
}

/** Parse options once; the first zod issue becomes an {@link EmulatorOptionError} naming the option. */
export function parseEmulatorOptions(input: unknown): ResolvedEmulatorOptions {
  const result = EmulatorOptionsSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (path === '') throw new EmulatorOptionError(`Invalid options for startEmulator: ${issue.message}`, { cause: result.error });
  throw new EmulatorOptionError(`Invalid option \`${path}\`: ${issue.message}, got ${describe(valueAt(input, issue.path))}`, {
    cause: result.error,
  });
}

/** Validate a runtime fault change (setFaults). */
export function parseFaults(input: unknown): ResolvedFaults {
  const result = FaultOptionsSchema.strict().safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = ['faults', ...issue.path.map(String)].join('.');
  throw new EmulatorOptionError(`Invalid option \`${path}\`: ${issue.message}, got ${describe(valueAt(input, issue.path))}`, {
    cause: result.error,
  });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
