// Actual spend: answers' usage added up per model and mode, priced with a lookup passed in (pure: no table here).
import type { ModelSpend, Price, PriceOf, Spend, SpendMode, UsageCounts } from './spend-types.js';

/** A lookup that knows no price (every cost unknown): the default until a price table is given. */
export const unknownPrices: PriceOf = () => undefined;

/** The job directory's report of what the run's answers cost (see `RunSummary.spend`); a several-model parent's too. */
export const SPEND_FILE = 'spend.json';

/** Zeroed counts. */
export function emptyUsage(): UsageCounts {
  return { requests: 0, promptTokens: 0, completionTokens: 0, reasoningTokens: 0, cachedTokens: 0 };
}

/** One answer's token counts as {@link UsageTally.add} takes them: -1 (or absent, for the details) when not reported. */
export interface AnswerTokens {
  prompt: number;
  completion: number;
  /** Of `completion`. */
  reasoning?: number;
  /** Of `prompt`. */
  cached?: number;
}

/**
 * Usage counts of every answer paid for, per model and mode; one tally per run, fed from the passes the join
 * already makes (a line's verdict, or the line parsed once). A count that is -1 or null is not reported.
 */
export class UsageTally {
  readonly models = new Map<string, { batch: UsageCounts; realtime: UsageCounts }>();

  /** @param model - the model answers are counted under (the job's) */
  constructor(readonly model: string) {}

  /** Add one answer's counts (each -1, or absent, when not reported); an answer reporting no tokens is not counted. */
  add(mode: SpendMode, counts: AnswerTokens): void {
    const { prompt, completion, reasoning = -1, cached = -1 } = counts;
    if (prompt < 0 && completion < 0) return;
    let entry = this.models.get(this.model);
    if (!entry) this.models.set(this.model, (entry = { batch: emptyUsage(), realtime: emptyUsage() }));
    const c = entry[mode];
    c.requests += 1;
    if (prompt > 0) c.promptTokens += prompt;
    if (completion > 0) c.completionTokens += completion;
    if (reasoning > 0) c.reasoningTokens += reasoning;
    if (cached > 0) c.cachedTokens += cached;
  }

  /** Add a response body's OpenAI-shaped `usage` (prompt/completion tokens and their details), if it has one. */
  addBody(mode: SpendMode, body: unknown): void {
    const usage = (body as { usage?: unknown } | null | undefined)?.usage;
    if (typeof usage !== 'object' || usage === null) return;
    const u = usage as { prompt_tokens?: unknown; completion_tokens?: unknown; completion_tokens_details?: { reasoning_tokens?: unknown } | null; prompt_tokens_details?: { cached_tokens?: unknown } | null };
    this.add(mode, { prompt: count(u.prompt_tokens), completion: count(u.completion_tokens), reasoning: count(u.completion_tokens_details?.reasoning_tokens), cached: count(u.prompt_tokens_details?.cached_tokens) });
  }

  /** Add a normalized result's counts (see `BatchResult`). */
  addResult(mode: SpendMode, r: { promptTokens: number | null; completionTokens: number | null; reasoningTokens?: number; cachedTokens?: number }): void {
    this.add(mode, { prompt: r.promptTokens ?? -1, completion: r.completionTokens ?? -1, reasoning: r.reasoningTokens ?? -1, cached: r.cachedTokens ?? -1 });
  }
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : -1);

/**
 * What `counts` cost at `price` (USD): uncached prompt tokens at the input price, cached ones at the cached price
 * (the input price when none is given), completion tokens at the output price. Reasoning tokens are part of
 * `completion_tokens` (OpenAI's CompletionUsage: "counted in the total completion tokens for purposes of billing")
 * and are not added again.
 * @example costOf({ requests: 1, promptTokens: 1e6, completionTokens: 0, reasoningTokens: 0, cachedTokens: 0 }, price) // price.inputPerMTok
 */
export function costOf(counts: UsageCounts, price: Price): number {
  const cached = Math.min(counts.cachedTokens, counts.promptTokens);
  const input = (counts.promptTokens - cached) * price.inputPerMTok + cached * (price.cachedInputPerMTok ?? price.inputPerMTok);
  return round((input + counts.completionTokens * price.outputPerMTok) / 1e6);
}

/**
 * What the answers the request cache gave would have cost at `price` (today's, for the mode the run would have sent
 * them in): their tokens as stored. Null when the price is unknown (never 0 for unknown).
 * @example cacheSavedAt({ prompt: 1e6, completion: 0 }, price) // price.inputPerMTok
 */
export function cacheSavedAt(tokens: { prompt: number; completion: number }, price: Price | undefined): number | null {
  if (price === undefined) return null;
  return costOf({ requests: 0, promptTokens: tokens.prompt, completionTokens: tokens.completion, reasoningTokens: 0, cachedTokens: 0 }, price);
}

/** Options of {@link spendOf}. */
export interface SpendOptions {
  priceOf: PriceOf;
  provider: string;
  /** The batch completion window (prices may differ by window). */
  window?: string;
  /**
   * The answers the request cache gave (their tokens as stored), and the mode the run would have sent them in: priced
   * at today's price for it (see {@link cacheSavedAt}). Absent or 0 answers, or any of them stored without its token
   * counts (`withoutUsage`): `cacheSaved` is null (unknown, never an understatement).
   */
  cached?: { answers: number; tokens: { prompt: number; completion: number }; withoutUsage?: number; model: string; mode: SpendMode };
}

/**
 * Price a tally: per model, batch answers at the batch price and realtime answers at the realtime price; an unknown
 * price makes that model's cost null (listed in `unpriced`), never 0; the total covers the priced models.
 * @example spendOf(tally, { priceOf: priceFor, provider: 'kluster', window: '24h' }).cost // 0.0123
 */
export function spendOf(tally: UsageTally, options: SpendOptions): Spend {
  const { priceOf, provider, window } = options;
  const models: ModelSpend[] = [];
  const unpriced: string[] = [];
  const used: Price[] = [];
  for (const [model, { batch, realtime }] of tally.models) {
    const price = (mode: SpendMode): Price | undefined => priceOf({ provider, model, mode, ...(window !== undefined && mode === 'batch' ? { window } : {}) });
    const batchPrice = batch.requests > 0 ? price('batch') : undefined;
    const realtimePrice = realtime.requests > 0 || batchPrice ? price('realtime') : undefined;
    const parts: Array<number | null> = [];
    for (const [mode, counts, p] of [['batch', batch, batchPrice], ['realtime', realtime, realtimePrice]] as const) {
      if (counts.requests === 0) continue;
      if (!p) unpriced.push(`${model} (${mode})`);
      else used.push(p);
      parts.push(p ? costOf(counts, p) : null);
    }
    const cost = parts.includes(null) ? null : round(parts.reduce<number>((a, b) => a + b!, 0));
    const batchSaved = batch.requests === 0 ? 0 : batchPrice && realtimePrice ? round(costOf(batch, realtimePrice) - costOf(batch, batchPrice)) : null;
    models.push({ provider, model, batch, realtime, cost, batchSaved });
  }
  const cacheSaved = savedByCache(options, used);
  const known = models.filter((m) => m.cost !== null);
  const saved = models.map((m) => m.batchSaved);
  return {
    currency: 'USD',
    models,
    cost: known.length > 0 || models.length === 0 ? round(known.reduce((a, m) => a + m.cost!, 0)) : null,
    unpriced,
    batchSaved: saved.includes(null) ? null : round(saved.reduce<number>((a, b) => a + b!, 0)),
    cacheSaved,
    ...(options.cached?.withoutUsage ? { cachedWithoutUsage: options.cached.withoutUsage } : {}),
    prices: pricesUsed(used),
  };
}

/** What the cached answers saved at their mode's price (that price joins `used`); null without any, with any whose tokens are unknown, or at an unknown price. */
function savedByCache(options: SpendOptions, used: Price[]): number | null {
  const c = options.cached;
  if (c === undefined || c.answers === 0 || (c.withoutUsage ?? 0) > 0) return null;
  const price = options.priceOf({ provider: options.provider, model: c.model, mode: c.mode, ...(options.window !== undefined && c.mode === 'batch' ? { window: options.window } : {}) });
  if (price !== undefined) used.push(price);
  return cacheSavedAt(c.tokens, price);
}

/** The distinct sources of the prices used and the oldest date one was checked. */
function pricesUsed(used: readonly Price[]): Spend['prices'] {
  if (used.length === 0) return null;
  const sources = [...new Set(used.map((p) => p.source))];
  const checked = used.map((p) => p.checked).sort()[0]!;
  return { source: sources.join(', '), checked };
}

/** USD to a millionth of a cent's worth of float noise removed. */
function round(usd: number): number {
  return Math.round(usd * 1e8) / 1e8;
}

/**
 * The spend as summary lines: the cost (or why it is unknown), what the batch discount saved, the prices' date (what the
 * cache saved is said with the count of cached rows, see formatRunSummary: also when nothing was paid).
 * @example formatSpend(spend) // ['cost $0.0123 (llama: 1000 prompt + 50 completion tokens in 10 batch requests); batch discount saved $0.0123; prices checked 2026-11-01']
 */
export function formatSpend(spend: Spend): string[] {
  if (spend.models.length === 0) return [];
  const tokens = spend.models.map((m) => `${m.model}: ${describeCounts(m.batch, 'batch')}${m.batch.requests > 0 && m.realtime.requests > 0 ? ', ' : ''}${describeCounts(m.realtime, 'realtime')}`).join('; ');
  const cost =
    spend.cost === null
      ? 'cost unknown (no price for ' + spend.unpriced.join(', ') + ')'
      : spend.unpriced.length > 0
        ? `cost at least ${usd(spend.cost)} (no price for ${spend.unpriced.join(', ')})`
        : `cost ${usd(spend.cost)}`;
  const saved = [
    spend.batchSaved === null ? 'batch discount saved: unknown' : spend.batchSaved > 0 ? `batch discount saved ${usd(spend.batchSaved)}` : '',
    spend.prices ? `prices checked ${spend.prices.checked}` : '',
  ].filter((s) => s !== '');
  return [`${cost} (${tokens})${saved.length > 0 ? `; ${saved.join('; ')}` : ''}`];
}

function describeCounts(c: UsageCounts, mode: SpendMode): string {
  if (c.requests === 0) return '';
  const cached = c.cachedTokens > 0 ? ` (${c.cachedTokens} cached)` : '';
  const reasoning = c.reasoningTokens > 0 ? ` (${c.reasoningTokens} reasoning)` : '';
  return `${c.promptTokens} prompt${cached} + ${c.completionTokens} completion${reasoning} tokens in ${c.requests} ${mode} request${c.requests === 1 ? '' : 's'}`;
}

function usd(n: number): string {
  return `$${n < 0.01 && n > 0 ? n.toPrecision(2) : n.toFixed(4)}`;
}
