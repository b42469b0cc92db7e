// Prices as data: USD per million tokens per provider, model and mode, each row with where it was seen and when.
// Only figures seen in the cited source are here; a model, mode or window without a row is unknown (never $0).
// Left out on 2026-12-05 for want of a source showing them: kluster's batch prices (its own pricing page was not
// found; per-window prices unknown), Gemini (no per-model table found), Groq (its listed Llama prices belong to models
// it has retired), Together's batch prices (50% off "selected" serverless models, which ones not listed).

import { z } from 'zod';
import { ProviderNameSchema } from '../providers/resolve-provider.js';
import type { PriceOf } from './spend-types.js';

const CHECKED_DATE = 'must be the date the price was checked (YYYY-MM-DD)';

/** True for a YYYY-MM-DD that is a day of the calendar (not 2026-02-30). */
const isDay = (text: string): boolean => /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);

/** A price of one provider's model in one mode (and window): USD per million tokens, where it was seen and when. */
export const PriceSchema = z.object({
  currency: z.literal('USD', { error: 'must be "USD"' }),
  inputPerMTok: z.number({ error: 'must be a number of US dollars per million tokens' }).nonnegative({ error: 'must be 0 or more' }),
  outputPerMTok: z.number({ error: 'must be a number of US dollars per million tokens' }).nonnegative({ error: 'must be 0 or more' }),
  cachedInputPerMTok: z.number({ error: 'must be a number of US dollars per million tokens' }).nonnegative({ error: 'must be 0 or more' }).optional(),
  /** Where the figures were seen. */
  source: z.string({ error: 'must say where the price was seen (a URL)' }).trim().min(1, { error: 'must say where the price was seen (a URL)' }),
  /** When they were checked (YYYY-MM-DD). */
  checked: z.string({ error: CHECKED_DATE }).refine(isDay, { error: `${CHECKED_DATE}, a day that exists` }),
});

/** A price of one provider's model in one mode (and window). */
export type Price = z.output<typeof PriceSchema>;

/** One row of a price table: the built-in one, or one a user gives (`prices`, `--prices FILE`); a key it does not know is refused (a typo). */
export const PriceRowSchema = PriceSchema.extend({
  /** Providers (kbatch profile names) the row applies to. */
  providers: z.array(ProviderNameSchema, { error: 'must be a list of provider names' }).min(1, { error: 'must name at least one provider' }),
  model: z.string({ error: 'must be a model id' }).min(1, { error: 'must be a model id' }),
  mode: z.enum(['batch', 'realtime'], { error: 'must be "batch" or "realtime"' }),
  /** The completion window the price is for; absent: every window. */
  window: z.string().min(1).optional(),
  /**
   * The model's output cap (tokens), the worst case when a request sets no max_completion_tokens: OpenAI's as
   * https://deploybase.ai/articles/openai-pricing lists them ("Max Output" 16K, 32K, 100K, 128K).
   */
  outputCap: z.number().int().positive().optional(),
}).strict();

/** One row of a price table. */
export type PriceRow = z.output<typeof PriceRowSchema>;

const CHECKED = '2026-12-05';
const OPENAI = 'https://apicalculators.com/blog/openai-batch-api-cost-2026 (OpenAI standard and Batch API prices)';
const OPENAI_5 = 'https://chatgptpricing-akr.pages.dev/api-pricing (from developers.openai.com/api/docs/pricing)';
const OPENAI_41 = 'https://raw.githubusercontent.com/outl1ne/openai-pricing/refs/heads/main/pricing.json (batchDiscount 0.5)';
const ANTHROPIC_BATCH = 'https://docs.anthropic.com/en/docs/build-with-claude/batch-processing';
const ANTHROPIC = 'https://docs.rs/synaps/0.10.2/synaps_cli/pricing/index.html (from platform.claude.com/docs/en/about-claude/pricing)';
const KLUSTER = 'https://www.lava.so/docs/gateway/providers/kluster (kluster.ai models as a gateway lists them; kluster\'s own page not found)';
const TOGETHER_8B = 'https://www.getmaxim.ai/bifrost/model-library/compare/together_ai/meta-llama-3.1-8b-instruct-turbo';
const TOGETHER_70B = 'https://www.getmaxim.ai/bifrost/llm-cost-calculator/provider/together_ai/model/meta-llama-3.1-70b-instruct-turbo';

/** Input, output (and cached input) USD per million tokens. */
type Figures = readonly [input: number, output: number, cachedInput?: number];

/** What a row of the built-in table says besides its figures. */
interface RowOf {
  providers: readonly string[];
  model: string;
  source: string;
  outputCap?: number;
}

/** Rows in both modes: realtime as listed, batch at the listed batch figures. */
function both(row: RowOf & { realtime: Figures; batch: Figures }): PriceRow[] {
  const { realtime, batch, ...rest } = row;
  return [one({ ...rest, mode: 'realtime', figures: realtime }), one({ ...rest, mode: 'batch', figures: batch })];
}

function one(row: RowOf & { mode: 'batch' | 'realtime'; figures: Figures }): PriceRow {
  const [inputPerMTok, outputPerMTok, cachedInputPerMTok] = row.figures;
  return {
    providers: [...row.providers],
    model: row.model,
    mode: row.mode,
    currency: 'USD',
    inputPerMTok,
    outputPerMTok,
    ...(cachedInputPerMTok === undefined ? {} : { cachedInputPerMTok }),
    source: row.source,
    checked: CHECKED,
    ...(row.outputCap === undefined ? {} : { outputCap: row.outputCap }),
  };
}

const OPENAI_PROVIDERS = ['openai'] as const;
const KLUSTER_PROVIDERS = ['kluster', 'kluster-2025'] as const;

/** The table (one row per provider, model, mode and window). */
export const PRICE_TABLE: readonly PriceRow[] = [
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-4o', realtime: [2.5, 10, 1.25], batch: [1.25, 5], source: OPENAI_5, outputCap: 16_384 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-4o-mini', realtime: [0.15, 0.6, 0.075], batch: [0.075, 0.3], source: OPENAI_5, outputCap: 16_384 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-4.1', realtime: [2, 8], batch: [1, 4], source: OPENAI, outputCap: 32_768 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-4.1-mini', realtime: [0.4, 1.6, 0.1], batch: [0.2, 0.8], source: OPENAI_41, outputCap: 32_768 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-4.1-nano', realtime: [0.1, 0.4, 0.025], batch: [0.05, 0.2], source: OPENAI_41, outputCap: 32_768 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'o4-mini', realtime: [1.1, 4.4], batch: [0.55, 2.2], source: OPENAI, outputCap: 100_000 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-5', realtime: [1.25, 10], batch: [0.625, 5], source: OPENAI_5, outputCap: 128_000 }),
  ...both({ providers: OPENAI_PROVIDERS, model: 'gpt-5-mini', realtime: [0.25, 2], batch: [0.125, 1], source: OPENAI_5, outputCap: 128_000 }),
  one({ providers: ['anthropic'], model: 'claude-opus-4-1', mode: 'batch', figures: [7.5, 37.5], source: ANTHROPIC_BATCH }),
  one({ providers: ['anthropic'], model: 'claude-opus-4', mode: 'batch', figures: [7.5, 37.5], source: ANTHROPIC_BATCH }),
  one({ providers: ['anthropic'], model: 'claude-sonnet-4', mode: 'batch', figures: [1.5, 7.5], source: ANTHROPIC_BATCH }),
  one({ providers: ['anthropic'], model: 'claude-3-7-sonnet', mode: 'batch', figures: [1.5, 7.5], source: ANTHROPIC_BATCH }),
  one({ providers: ['anthropic'], model: 'claude-3-5-haiku', mode: 'batch', figures: [0.4, 2], source: ANTHROPIC_BATCH }),
  one({ providers: ['anthropic'], model: 'claude-3-haiku', mode: 'batch', figures: [0.125, 0.625], source: ANTHROPIC_BATCH }),
  one({ providers: ['anthropic'], model: 'claude-opus-4-1', mode: 'realtime', figures: [15, 75], source: ANTHROPIC }),
  one({ providers: ['anthropic'], model: 'claude-opus-4', mode: 'realtime', figures: [15, 75], source: ANTHROPIC }),
  one({ providers: ['anthropic'], model: 'claude-sonnet-4', mode: 'realtime', figures: [3, 15], source: ANTHROPIC }),
  one({ providers: ['anthropic'], model: 'claude-3-5-haiku', mode: 'realtime', figures: [0.8, 4], source: ANTHROPIC }),
  one({ providers: ['anthropic'], model: 'claude-3-haiku', mode: 'realtime', figures: [0.25, 1.25], source: ANTHROPIC }),
  one({ providers: KLUSTER_PROVIDERS, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'realtime', figures: [0.18, 0.18], source: KLUSTER }),
  one({ providers: KLUSTER_PROVIDERS, model: 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo', mode: 'realtime', figures: [0.7, 0.7], source: KLUSTER }),
  one({ providers: KLUSTER_PROVIDERS, model: 'deepseek-ai/DeepSeek-V3-0324', mode: 'realtime', figures: [0.7, 1.4], source: KLUSTER }),
  one({ providers: KLUSTER_PROVIDERS, model: 'deepseek-ai/DeepSeek-R1', mode: 'realtime', figures: [3, 5], source: KLUSTER }),
  one({ providers: KLUSTER_PROVIDERS, model: 'deepseek-ai/DeepSeek-R1-0528', mode: 'realtime', figures: [3, 5], source: KLUSTER }),
  one({ providers: KLUSTER_PROVIDERS, model: 'google/gemma-3-27b-it', mode: 'realtime', figures: [0.35, 0.35], source: KLUSTER }),
  one({ providers: KLUSTER_PROVIDERS, model: 'Qwen/Qwen3-235B-A22B-FP8', mode: 'realtime', figures: [0.15, 2], source: KLUSTER }),
  one({ providers: ['together'], model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'realtime', figures: [0.18, 0.18], source: TOGETHER_8B }),
  one({ providers: ['together'], model: 'meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo', mode: 'realtime', figures: [0.88, 0.88], source: TOGETHER_70B }),
];

/**
 * Dated snapshots priced unlike their base model (gpt-4o-2024-05-13: $5/$15 per million at launch, against gpt-4o's
 * $2.50/$10): without a row of their own they are unknown, never the base model's price.
 */
const PRICED_APART = new Set(['gpt-4o-2024-05-13']);

/**
 * Whether a requested model id names a table row's model: exactly, or as a dated snapshot or alias of it — OpenAI's
 * `<model>-YYYY-MM-DD`, Anthropic's `<model>-YYYYMMDD` and `<model>-latest` (`claude-sonnet-4-20250514` is
 * `claude-sonnet-4`). Nothing else: `gpt-4o-mini` is not `gpt-4o`, and a fine-tuned `ft:…` model is unknown.
 */
export function sameModel(requested: string, row: string): boolean {
  if (requested === row) return true;
  if (!requested.startsWith(`${row}-`) || PRICED_APART.has(requested)) return false;
  return /^(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/.test(requested.slice(row.length + 1));
}

/** A price table to look prices up in: the built-in one, or the rows a user gave merged over it (see {@link priceTable}). */
export interface PriceTable {
  /** The price of a model on a provider in a mode (and window); undefined when unknown (never $0). */
  priceOf: PriceOf;
  /** The model's output cap where a row records one. */
  outputCapOf(q: { provider: string; model: string }): number | undefined;
}

/**
 * The built-in table with `extra` rows (a user's, e.g. negotiated or unlisted prices) merged over it: where a user row
 * fits a lookup it wins over every built-in row.
 * @example priceTable([{ providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'my contract', checked: '2026-12-01' }]).priceOf({ provider: 'kluster', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch' })
 */
export function priceTable(extra: readonly PriceRow[] = []): PriceTable {
  const tables = extra.length === 0 ? [PRICE_TABLE] : [extra, PRICE_TABLE];
  return {
    priceOf(q) {
      for (const table of tables) {
        const row = priceRow(table, q);
        if (row !== undefined) return priceOfRow(row);
      }
      return undefined;
    },
    outputCapOf(q) {
      for (const table of tables) {
        const cap = table.find((r) => r.providers.includes(q.provider) && sameModel(q.model, r.model) && r.outputCap !== undefined)?.outputCap;
        if (cap !== undefined) return cap;
      }
      return undefined;
    },
  };
}

const BUILT_IN = priceTable();

/**
 * The price of a model on a provider in a mode (and completion window) in the built-in table, or undefined when it
 * does not know it (then the cost shows as unknown, never $0).
 * @example priceFor({ provider: 'openai', model: 'gpt-4o-mini-2024-07-18', mode: 'batch' }) // { inputPerMTok: 0.075, … }
 */
export function priceFor(q: { provider: string; model: string; mode: 'batch' | 'realtime'; window?: string }): Price | undefined {
  return BUILT_IN.priceOf(q);
}

function priceOfRow(row: PriceRow): Price {
  const { currency, inputPerMTok, outputPerMTok, cachedInputPerMTok, source, checked } = row;
  return { currency, inputPerMTok, outputPerMTok, ...(cachedInputPerMTok === undefined ? {} : { cachedInputPerMTok }), source, checked };
}

function priceRow(table: readonly PriceRow[], q: { provider: string; model: string; mode: 'batch' | 'realtime'; window?: string | undefined }): PriceRow | undefined {
  const rows = table.filter((r) => r.providers.includes(q.provider) && r.mode === q.mode && sameModel(q.model, r.model));
  // A row for the window asked wins over one for every window; an exact model id over a snapshot rule.
  const fits = rows.filter((r) => r.window === undefined || r.window === q.window);
  fits.sort((a, b) => Number(b.window !== undefined) - Number(a.window !== undefined) || Number(b.model === q.model) - Number(a.model === q.model));
  return fits[0];
}
