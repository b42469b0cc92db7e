// What a run would cost, before anything is uploaded: `kbatch estimate`, `kbatch run --dry-run`, and --max-cost.
import { sampleFilter } from '../records/sample-records.js';
import { drawRunSample } from '../run/run-sample.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnswerSchema } from '../answers/answer-schema.js';
import { KbatchError } from '../errors.js';
import { createJoinPlan } from '../join/join-plan.js';
import { parseOptions } from '../options.js';
import { DEFAULT_AUTO_THRESHOLD, chooseMode } from '../realtime/choose-mode.js';
import { DEFAULT_PROVIDER } from '../providers/resolve-provider.js';
import { RunJobOptionsSchema, type RunJobOptions, type RunSummary } from '../run/run-options.js';
import { newSettings, readTemplate, resolveSchema } from '../run/run-settings.js';
import type { RunSettings } from '../state/run-state.js';
import { completionTokens } from './estimate-completion.js';
import { countRequests, type CountRequestsContext, type RequestCounts } from './estimate-requests.js';
import { openFilledCache } from '../cache/answer-cache.js';
import { cacheDir } from '../cache/cache-dir.js';
import { priceFor, priceTable, type Price, type PriceTable } from './prices.js';
import { resolvePrices } from './price-file.js';
import { spendOf, UsageTally } from './spend.js';
import { loadTokenizer, tokenizerKind, type TextTokenizer } from './tokenizer.js';

/** What a job would send and cost (the object `kbatch estimate --json` prints). */
export interface JobEstimate {
  records: number;
  /** Every request the input renders to, those the cache answers included. */
  requests: number;
  /**
   * Of `requests`: those the request cache answers (looked up as the run looks them up), so neither sent nor paid.
   * Batches, tokens and cost below are those of the other requests; 0 without a cache.
   */
  cached_requests: number;
  /** Records prepare would reject (`onInvalidRecord: 'skip'`): not sent, not paid. */
  skipped: number;
  batches: number;
  /** The batch limits the requests were planned with (the provider's, or those given). */
  limits: { max_requests: number; max_bytes: number; max_batch_tokens: number | null };
  provider: string;
  model: string;
  mode: 'batch' | 'realtime';
  window: string;
  prompt_tokens: number;
  /** Over all requests; `per_request` and where each figure comes from alongside. */
  completion_tokens: {
    expected: number;
    max: number | null;
    per_request: { expected: number; max: number | null };
    expected_from: 'labels' | 'schema' | 'max_completion_tokens' | 'default';
    max_from: 'max_completion_tokens' | 'model output cap' | 'unknown';
  };
  /** USD; null when the price (or, for the worst case, the completion cap) is unknown — never 0 for unknown. */
  cost: { currency: 'USD'; expected: number | null; worst_case: number | null };
  tokenizer: string;
  tokenizer_exact: boolean;
  /** The price used: per million tokens, its source and the date it was checked; null when unknown. */
  prices: { input_per_mtok: number; output_per_mtok: number; source: string; checked: string } | null;
}

/** Options of {@link estimateJob}: those of `runJob`, parsed by its schema; a client is not needed (nothing is sent). */
export type EstimateJobOptions = Omit<RunJobOptions, 'client'> & { client?: RunJobOptions['client'] };

// Stands in for a client that is never called, so runJob's one schema parses an estimate's options.
const NO_CLIENT = { batches: {}, files: {} } as unknown as RunJobOptions['client'];

/**
 * Estimate a run without uploading, sending or writing anything (no job directory): reads the input, renders every
 * request as `runJob` would, plans the batches with the provider's limits, counts prompt tokens with the model's
 * tokenizer and prices the job from the price table. Streaming, in constant memory.
 * @example const e = await estimateJob({ input: 'reviews.csv', model: 'gpt-4o-mini', provider: 'openai', prompt: '{{text}}', labels: ['pos', 'neg'] });
 * console.log(e.cost.worst_case);
 */
export async function estimateJob(options: EstimateJobOptions): Promise<JobEstimate> {
  const given = { ...options, client: options.client ?? NO_CLIENT } as RunJobOptions;
  const parsed = parseOptions(RunJobOptionsSchema, given, 'estimateJob');
  const cwd = parsed.cwd ?? process.cwd();
  const opts = await readTemplate(parsed, cwd);
  const schema = await resolveSchema(opts, null, cwd);
  // stdin, a stream or records are saved to a temporary directory (removed after), never to a job directory.
  const isFile = typeof opts.input === 'string' && opts.input !== '-';
  const scratch = isFile ? null : await mkdtemp(join(tmpdir(), 'kbatch-estimate-'));
  // The run's cache, read only: an estimate never makes one (an absent or empty cache answers nothing).
  const dir = cacheDir(opts.cache, { cwd });
  const answers = dir === null ? null : await openFilledCache(dir).catch(() => null);
  try {
    const settings = await newSettings(given, opts, { jobDir: scratch ?? cwd, cwd, schema, emit: () => {} });
    // A sample is drawn as the run would draw it (same input, same spec: the same records), and only it is counted.
    const keep = settings.sample !== undefined ? sampleFilter(await drawRunSample(settings, opts.signal)) : undefined;
    const cache = answers ? { answers, provider: settings.provider ?? DEFAULT_PROVIDER } : null;
    return await estimateSettings(settings, { schema, signal: opts.signal, cache, prices: await resolvePrices(opts, cwd), ...(keep ? { keep } : {}) });
  } finally {
    await answers?.close();
    if (scratch !== null) await rm(scratch, { recursive: true, force: true });
  }
}

/** What {@link estimateSettings} needs besides the settings. */
export interface EstimateContext {
  schema: AnswerSchema | undefined;
  signal?: AbortSignal | undefined;
  /** The request cache the run would read (its answers cost 0). */
  cache?: CountRequestsContext['cache'];
  /** The prices (default: kbatch's table). */
  prices?: PriceTable;
  /** Only these record numbers (a sample). */
  keep?: (record: number) => boolean;
}

/** Estimate a run from its settings (a new run's), with the cache it would read. */
export async function estimateSettings(settings: RunSettings, context: EstimateContext): Promise<JobEstimate> {
  const model = String(settings.request.model);
  const provider = settings.provider ?? DEFAULT_PROVIDER;
  const plan = createJoinPlan({ ...(settings.labels ? { labels: settings.labels } : {}), ...(context.schema ? { schema: context.schema } : {}), confidence: settings.confidence });
  const tokenizer = await loadTokenizer(tokenizerKind(model));
  const counts = await countRequests(settings, { instruction: plan.answers.instruction, tokenizer, signal: context.signal, cache: context.cache, ...(context.keep ? { keep: context.keep } : {}) });
  // Only the requests to send are paid, and they choose the mode (as the run's chunks do).
  const mode = chooseMode({ mode: settings.mode, requests: counts.requests - counts.cached, autoThreshold: settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD, provider });
  return estimateFrom(settings, counts, { mode, tokenizer, schema: context.schema, prices: context.prices ?? priceTable() });
}

/** What {@link estimateFrom} prices the counts with. */
export interface EstimatePricing {
  mode: 'batch' | 'realtime';
  tokenizer: TextTokenizer;
  schema: AnswerSchema | undefined;
  prices: PriceTable;
}

/** The estimate of the requests counted (the cached ones cost 0): completion tokens expected and worst case, and their cost at `mode`'s price. */
export function estimateFrom(settings: RunSettings, counts: RequestCounts, at: EstimatePricing): JobEstimate {
  const { mode, tokenizer, prices } = at;
  const model = String(settings.request.model);
  const provider = settings.provider ?? DEFAULT_PROVIDER;
  const sent = counts.requests - counts.cached;
  const maxCompletionTokens = settings.request.maxCompletionTokens as number | undefined;
  const perRequest = completionTokens(tokenizer, { labels: settings.labels, jsonSchema: at.schema?.jsonSchema, maxCompletionTokens, outputCap: prices.outputCapOf({ provider, model }) });
  const price = prices.priceOf({ provider, model, mode, ...(mode === 'batch' ? { window: settings.window } : {}) });
  const expected = perRequest.expected * sent;
  // Nothing to send has a worst case of 0, whatever a request's could be.
  const max = sent === 0 ? 0 : perRequest.max === null ? null : perRequest.max * sent;
  return {
    records: counts.records,
    requests: counts.requests,
    cached_requests: counts.cached,
    skipped: counts.skipped,
    batches: counts.batches,
    limits: { max_requests: counts.limits.maxRequests, max_bytes: counts.limits.maxBytes, max_batch_tokens: counts.limits.maxBatchTokens ?? null },
    provider,
    model,
    mode,
    window: settings.window,
    prompt_tokens: counts.promptTokens,
    completion_tokens: { expected, max, per_request: { expected: perRequest.expected, max: perRequest.max }, expected_from: perRequest.expectedFrom, max_from: perRequest.maxFrom },
    cost: { currency: 'USD', expected: costOf(price, counts.promptTokens, expected), worst_case: max === null ? null : costOf(price, counts.promptTokens, max) },
    tokenizer: tokenizer.name,
    tokenizer_exact: tokenizer.exact,
    prices: price ? { input_per_mtok: price.inputPerMTok, output_per_mtok: price.outputPerMTok, source: price.source, checked: price.checked } : null,
  };
}

/** USD for the tokens at a price, to a billionth of a dollar; null when the price is unknown. */
function costOf(price: Price | undefined, promptTokens: number, completion: number): number | null {
  if (price === undefined) return null;
  return Math.round((promptTokens * price.inputPerMTok + completion * price.outputPerMTok) * 1e3) / 1e9;
}

/**
 * Refuse a run whose worst-case cost is above `maxCost`, or cannot be known, before anything is uploaded.
 * @throws KbatchError BUDGET_EXCEEDED (saying the estimate, the cap and what would lower it), COST_UNKNOWN
 */
export function checkBudget(estimate: JobEstimate, maxCost: number): void {
  const e = estimate;
  const where = `${e.model} on ${e.provider} (${e.mode}${e.mode === 'batch' ? `, window ${e.window}` : ''})`;
  // Every request answered by the cache: nothing is sent, so nothing is paid, whatever the price.
  if (e.requests - e.cached_requests === 0) return;
  if (e.prices === null) {
    throw new KbatchError('COST_UNKNOWN', `--max-cost ${usd(maxCost)} cannot be checked: kbatch's price table has no price for ${where}, so nothing was uploaded or sent; give it with --prices FILE (option \`prices\`: rows with their source and date), or run without --max-cost (kbatch estimate shows the token counts)`, { field: 'maxCost' });
  }
  if (e.cost.worst_case === null) {
    throw new KbatchError('COST_UNKNOWN', `--max-cost ${usd(maxCost)} cannot be checked: the worst case of ${where} is unbounded (no max_completion_tokens and no known output cap), so nothing was uploaded or sent; set --max-completion-tokens N`, { field: 'maxCost' });
  }
  if (e.cost.worst_case <= maxCost) return;
  const inputCost = (e.prompt_tokens * e.prices.input_per_mtok) / 1e6;
  const room = Math.floor(((maxCost - inputCost) * 1e6) / (e.prices.output_per_mtok * Math.max(1, e.requests - e.cached_requests)));
  const lower =
    room >= 1
      ? `--max-completion-tokens ${room} (now ${e.completion_tokens.per_request.max}, from ${e.completion_tokens.max_from}) would keep it under the cap`
      : `the prompts alone cost ${usd(inputCost)}: fewer rows, a shorter prompt or a cheaper model would lower it`;
  throw new KbatchError(
    'BUDGET_EXCEEDED',
    `the worst-case cost ${usd(e.cost.worst_case)} of ${e.requests - e.cached_requests} requests${e.cached_requests > 0 ? ` (${e.cached_requests} more answered by the cache)` : ''} to ${where} (${e.prompt_tokens} prompt tokens, up to ${e.completion_tokens.max} completion tokens) is above --max-cost ${usd(maxCost)}; nothing was uploaded or sent. ${lower}`,
    { field: 'maxCost' },
  );
}

/** A dollar figure as the output shows it: cents from $1 up, else two significant digits ($0.015, $0.0000080). */
export function usd(value: number): string {
  return value >= 1 ? `$${value.toFixed(2)}` : `$${value.toPrecision(2)}`;
}

/** runJob's summary of a dry run: nothing was sent (every count 0, no job directory); the estimate says what would be. */
export function dryRunSummary(estimate: JobEstimate, started: number): RunSummary {
  return {
    jobId: null,
    jobDir: '',
    records: estimate.records,
    succeeded: 0,
    failed: 0,
    requestErrors: 0,
    invalidAnswers: 0,
    missing: 0,
    skipped: estimate.skipped,
    retried: 0,
    retryRequests: 0,
    rounds: 0,
    notRetried: {},
    promptTokens: 0,
    completionTokens: 0,
    cached: 0,
    cachedTokens: { prompt: 0, completion: 0 },
    spend: spendOf(new UsageTally(estimate.model), { provider: estimate.provider, window: estimate.window, priceOf: priceFor }),
    batches: 0,
    mode: estimate.mode,
    realtimeRequests: 0,
    stragglerRequests: 0,
    unknownResults: 0,
    duplicateResults: 0,
    wallMs: Date.now() - started,
    resumed: false,
    outputs: { output: null, rejects: null },
    job: null,
    estimate,
  };
}
