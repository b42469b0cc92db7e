import { z } from 'zod';

/**
 * The batch wire formats of the profiles. `openai-batch`: files + batches as OpenAI's (the job's own shape);
 * `anthropic-batch`: Message Batches (requests inline in the create call); `gemini-batch`: Gemini Batch Mode;
 * `together-batch` (wrapped job objects, upper-case statuses, upload purpose `batch-api`, no metadata). A shape not in
 * {@link BATCH_SHAPES_SPOKEN} runs realtime and lints, but refuses batches before anything is uploaded.
 */
export const API_SHAPES = ['openai-batch', 'anthropic-batch', 'gemini-batch', 'together-batch'] as const;

/** A batch wire format (see {@link API_SHAPES}). */
export type ApiShape = (typeof API_SHAPES)[number];

/** The batch wire formats kbatch's batch jobs speak: the OpenAI shape, and each native adapter once it is built. */
export const BATCH_SHAPES_SPOKEN: ReadonlySet<ApiShape> = new Set<ApiShape>(['openai-batch', 'anthropic-batch', 'gemini-batch', 'together-batch']);

/**
 * Shapes whose cancelled batch is known to keep the answers it finished (OpenAI's output file, Anthropic's results):
 * only there may kbatch cancel a slow batch and finish its last requests realtime (`finishRealtime`). Gemini does not
 * say whether a CANCELLED batch keeps a responses file: without one, paid answers would read as missing.
 */
export const CANCEL_KEEPS_ANSWERS: ReadonlySet<ApiShape> = new Set<ApiShape>(['openai-batch', 'anthropic-batch']);

/** True when a cancelled batch of this profile keeps its finished answers (see {@link CANCEL_KEEPS_ANSWERS}). */
export const cancelKeepsAnswers = (profile: { apiShape: ApiShape }): boolean => CANCEL_KEEPS_ANSWERS.has(profile.apiShape);

/** True when kbatch can run batch jobs on this profile (else realtime, chat and lint only). */
export const speaksBatches = (profile: { apiShape: ApiShape }): boolean => BATCH_SHAPES_SPOKEN.has(profile.apiShape);

/** A limit the provider documents (a number), or null with a `note` saying it is not documented. */
const LimitSchema = z.int().positive().nullable();

/** A completion window: a whole number of hours or days, e.g. `24h` or `7d`. */
export const WindowSchema = z.string().regex(/^\d+[hd]$/, { error: 'must be a window such as 24h or 7d' });

/** The hours of a window such as `24h` or `7d`. */
export const windowHours = (window: string): number => Number.parseInt(window, 10) * (window.endsWith('d') ? 24 : 1);

/** Any window from `min` to `max` (both included), as a provider documents "durations from 24h to 7d". */
export const WindowRangeSchema = z
  .object({ min: WindowSchema, max: WindowSchema })
  .strict()
  .refine((r) => windowHours(r.min) <= windowHours(r.max), { error: 'min must not be longer than max', path: ['max'] });

/** The windows a profile offers: a list, or a range ({@link WindowRangeSchema}). */
export type ProfileWindows = string[] | z.output<typeof WindowRangeSchema>;

/** True when `window` is one the profile offers (null = not documented: any window is passed on). */
export function offersWindow(windows: ProfileWindows | null, window: string): boolean {
  if (windows === null) return true;
  if (Array.isArray(windows)) return windows.includes(window);
  return WindowSchema.safeParse(window).success && windowHours(windows.min) <= windowHours(window) && windowHours(window) <= windowHours(windows.max);
}

/** The windows a profile offers, for messages and `kbatch providers`: "24h, 48h" or "24h to 7d (any whole number of hours or days)". */
export function describeWindows(windows: ProfileWindows): string {
  return Array.isArray(windows) ? windows.join(', ') : `${windows.min} to ${windows.max} (any whole number of hours or days)`;
}

/**
 * One provider as data: where it lives, how it is keyed, what a batch may hold and which windows it offers.
 * Every figure cites `docs` and the date it was checked; an undocumented one is null and `notes` says so.
 */
export const ProviderProfileSchema = z
  .object({
    /** The `--provider` name. */
    name: z.string().regex(/^[a-z0-9-]+$/),
    /** One line for `kbatch providers`. */
    title: z.string().min(1),
    /** The batch wire format (see {@link API_SHAPES}); chat completions are OpenAI-style on every profile. */
    apiShape: z.enum(API_SHAPES),
    /** `bearer`: only `Authorization: Bearer KEY`; `bare-or-bearer`: the bare key is accepted too (kbatch always sends Bearer); `x-goog-api-key`: that header (Gemini). */
    auth: z.enum(['bearer', 'bare-or-bearer', 'x-goog-api-key']),
    /** Environment variables read for the API key, first set wins. */
    apiKeyEnv: z.array(z.string().min(1)).min(1),
    /** Environment variable read for the base URL (what the official SDK reads, where it has one). */
    baseUrlEnv: z.string().min(1),
    /** The base URL as the provider's official SDK takes it (OpenAI-style: with `/v1`); null = must be given. */
    defaultBaseURL: z.url().nullable(),
    limits: z.object({
      /** Most requests (lines) per batch input file. */
      maxRequests: LimitSchema,
      /** Most bytes per batch input file (the decimal reading of "MB"/"GB": the smaller, safe one). */
      maxBytes: LimitSchema,
      /** Most bytes of one request line. */
      maxLineBytes: LimitSchema,
      /**
       * Most enqueued (prompt) tokens per batch where the provider documents one figure for everyone (null: none, or
       * it depends on the account, like OpenAI's per model and tier); the default of `maxBatchTokens`.
       */
      maxBatchTokens: LimitSchema.default(null),
      /**
       * Most estimated (prompt) tokens one API key may have enqueued per model, over all its batches not yet ended, where
       * the provider documents one figure for everyone (null: none, or it depends on the account, like OpenAI's per
       * tier); the default of `maxEnqueuedTokens`, enforced across jobs and processes that share a database.
       */
      maxEnqueuedTokens: LimitSchema.default(null),
    }),
    /**
     * Completion windows the provider accepts: a list, or a range `{ min, max }` where it takes any duration between
     * (null = not documented: any window is passed on); and the one kbatch uses when none is given.
     */
    windows: z.union([z.array(WindowSchema).min(1), WindowRangeSchema]).nullable(),
    defaultWindow: z.string(),
    /**
     * The output-file expiry a batch create may set (OpenAI's `output_expires_after`, anchored at the output file's
     * creation), as the range of seconds the provider accepts; null = not offered (the option is refused).
     */
    outputExpiry: z.object({ minSeconds: z.int().positive(), maxSeconds: z.int().positive() }).strict().nullable().default(null),
    /** Chat parameters the docs say are supported / refused; null = not documented (nothing is checked). */
    chatParams: z.object({ supported: z.array(z.string()).nullable(), unsupported: z.array(z.string()) }),
    /** Rules lint checks: every line of a file uses one model; custom_id pattern (null = any non-empty string). */
    quirks: z.object({ oneModelPerFile: z.boolean(), customIdPattern: z.string().nullable() }),
    /** `max_tokens` sent when a request sets none, for a provider that requires it (Anthropic). */
    defaultMaxTokens: z.int().positive().optional(),
    /** Where the figures come from, and when they were checked (YYYY-MM-DD). */
    docs: z.array(z.url()).min(1),
    checked: z.iso.date(),
    /** What the docs do not say, what kbatch assumes instead, and anything else a user should know. */
    notes: z.array(z.string()),
  })
  .strict()
  .refine((p) => offersWindow(p.windows, p.defaultWindow), { error: 'defaultWindow must be one of windows', path: ['defaultWindow'] });

/** A provider profile. */
export type ProviderProfile = z.output<typeof ProviderProfileSchema>;
