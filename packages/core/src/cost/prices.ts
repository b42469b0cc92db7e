// Prices as data: USD per million tokens per provider, model and mode, each row with where it was seen and when.
// Only figures seen in the cited source are here; a model, mode or window without a row is unknown (never $0).
// Left out on 2026-12-05 for want of a source showing them: kluster's batch prices (its own pricing page was not
// found; per-window prices unknown), Gemini (no per-model table found), Groq (its listed Llama prices belong to models
// it has retired), Together's batch prices (50% off "selected" serverless models, which ones not listed).

/** A price of one provider's model in one mode (and window). */
export interface Price {
  currency: 'USD';
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok?: number;
  /** Where the figures were seen. */
  source: string;
  /** When they were checked (YYYY-MM-DD). */
  checked: string;
}

/** One row of the table. */
interface PriceRow extends Price {
  /** Providers (kbatch profile names) the row applies to. */
  providers: readonly string[];
  model: string;
  mode: 'batch' | 'realtime';
  /** The completion window the price is for; absent: every window. */
  window?: string;
  /**
   * The model's output cap (tokens), the worst case when a request sets no max_completion_tokens: OpenAI's as
   * https://deploybase.ai/articles/openai-pricing lists them ("Max Output" 16K, 32K, 100K, 128K).
   */
  outputCap?: number;
}

const CHECKED = '2026-12-05';
const OPENAI = 'https://apicalculators.com/blog/openai-batch-api-cost-2026 (OpenAI standard and Batch API prices)';
const OPENAI_5 = 'https://chatgptpricing-akr.pages.dev/api-pricing (from developers.openai.com/api/docs/pricing)';
const OPENAI_41 = 'https://raw.githubusercontent.com/outl1ne/openai-pricing/refs/heads/main/pricing.json (batchDiscount 0.5)';
const ANTHROPIC_BATCH = 'https://docs.anthropic.com/en/docs/build-with-claude/batch-processing';
const ANTHROPIC = 'https://docs.rs/synaps/0.10.2/synaps_cli/pricing/index.html (from platform.claude.com/docs/en/about-claude/pricing)';
const KLUSTER = 'https://www.lava.so/docs/gateway/providers/kluster (kluster.ai models as a gateway lists them; kluster\'s own page not found)';
const TOGETHER_8B = 'https://www.getmaxim.ai/bifrost/model-library/compare/together_ai/meta-llama-3.1-8b-instruct-turbo';
const TOGETHER_70B = 'https://www.getmaxim.ai/bifrost/llm-cost-calculator/provider/together_ai/model/meta-llama-3.1-70b-instruct-turbo';

/** Rows in both modes: realtime as listed, batch at the listed batch figures. */
function both(providers: readonly string[], model: string, realtime: [number, number, number?], batch: [number, number], source: string, outputCap?: number): PriceRow[] {
  const common = { providers, model, currency: 'USD' as const, source, checked: CHECKED, ...(outputCap === undefined ? {} : { outputCap }) };
  return [
    { ...common, mode: 'realtime', inputPerMTok: realtime[0], outputPerMTok: realtime[1], ...(realtime[2] === undefined ? {} : { cachedInputPerMTok: realtime[2] }) },
    { ...common, mode: 'batch', inputPerMTok: batch[0], outputPerMTok: batch[1] },
  ];
}

function one(providers: readonly string[], model: string, mode: 'batch' | 'realtime', prices: [number, number], source: string, outputCap?: number): PriceRow {
  return { providers, model, mode, currency: 'USD', inputPerMTok: prices[0], outputPerMTok: prices[1], source, checked: CHECKED, ...(outputCap === undefined ? {} : { outputCap }) };
}

const OPENAI_PROVIDERS = ['openai'] as const;
const KLUSTER_PROVIDERS = ['kluster', 'kluster-2025'] as const;

/** The table (one row per provider, model, mode and window). */
export const PRICE_TABLE: readonly PriceRow[] = [
  ...both(OPENAI_PROVIDERS, 'gpt-4o', [2.5, 10, 1.25], [1.25, 5], OPENAI_5, 16_384),
  ...both(OPENAI_PROVIDERS, 'gpt-4o-mini', [0.15, 0.6, 0.075], [0.075, 0.3], OPENAI_5, 16_384),
  ...both(OPENAI_PROVIDERS, 'gpt-4.1', [2, 8], [1, 4], OPENAI, 32_768),
  ...both(OPENAI_PROVIDERS, 'gpt-4.1-mini', [0.4, 1.6, 0.1], [0.2, 0.8], OPENAI_41, 32_768),
  ...both(OPENAI_PROVIDERS, 'gpt-4.1-nano', [0.1, 0.4, 0.025], [0.05, 0.2], OPENAI_41, 32_768),
  ...both(OPENAI_PROVIDERS, 'o4-mini', [1.1, 4.4], [0.55, 2.2], OPENAI, 100_000),
  ...both(OPENAI_PROVIDERS, 'gpt-5', [1.25, 10], [0.625, 5], OPENAI_5, 128_000),
  ...both(OPENAI_PROVIDERS, 'gpt-5-mini', [0.25, 2], [0.125, 1], OPENAI_5, 128_000),
  one(['anthropic'], 'claude-opus-4-1', 'batch', [7.5, 37.5], ANTHROPIC_BATCH),
  one(['anthropic'], 'claude-opus-4', 'batch', [7.5, 37.5], ANTHROPIC_BATCH),
  one(['anthropic'], 'claude-sonnet-4', 'batch', [1.5, 7.5], ANTHROPIC_BATCH),
  one(['anthropic'], 'claude-3-7-sonnet', 'batch', [1.5, 7.5], ANTHROPIC_BATCH),
  one(['anthropic'], 'claude-3-5-haiku', 'batch', [0.4, 2], ANTHROPIC_BATCH),
  one(['anthropic'], 'claude-3-haiku', 'batch', [0.125, 0.625], ANTHROPIC_BATCH),
  one(['anthropic'], 'claude-opus-4-1', 'realtime', [15, 75], ANTHROPIC),
  one(['anthropic'], 'claude-opus-4', 'realtime', [15, 75], ANTHROPIC),
  one(['anthropic'], 'claude-sonnet-4', 'realtime', [3, 15], ANTHROPIC),
  one(['anthropic'], 'claude-3-5-haiku', 'realtime', [0.8, 4], ANTHROPIC),
  one(['anthropic'], 'claude-3-haiku', 'realtime', [0.25, 1.25], ANTHROPIC),
  one(KLUSTER_PROVIDERS, 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', 'realtime', [0.18, 0.18], KLUSTER),
  one(KLUSTER_PROVIDERS, 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo', 'realtime', [0.7, 0.7], KLUSTER),
  one(KLUSTER_PROVIDERS, 'deepseek-ai/DeepSeek-V3-0324', 'realtime', [0.7, 1.4], KLUSTER),
  one(KLUSTER_PROVIDERS, 'deepseek-ai/DeepSeek-R1', 'realtime', [3, 5], KLUSTER),
  one(KLUSTER_PROVIDERS, 'deepseek-ai/DeepSeek-R1-0528', 'realtime', [3, 5], KLUSTER),
  one(KLUSTER_PROVIDERS, 'google/gemma-3-27b-it', 'realtime', [0.35, 0.35], KLUSTER),
  one(KLUSTER_PROVIDERS, 'Qwen/Qwen3-235B-A22B-FP8', 'realtime', [0.15, 2], KLUSTER),
  one(['together'], 'meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo', 'realtime', [0.18, 0.18], TOGETHER_8B),
  one(['together'], 'meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo', 'realtime', [0.88, 0.88], TOGETHER_70B),
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

/**
 * The price of a model on a provider in a mode (and completion window), or undefined when the table does not know it
 * (then the cost shows as unknown, never $0).
 * @example priceFor({ provider: 'openai', model: 'gpt-4o-mini-2024-07-18', mode: 'batch' }) // { inputPerMTok: 0.075, … }
 */
export function priceFor(q: { provider: string; model: string; mode: 'batch' | 'realtime'; window?: string }): Price | undefined {
  const row = priceRow(q);
  if (row === undefined) return undefined;
  const { currency, inputPerMTok, outputPerMTok, cachedInputPerMTok, source, checked } = row;
  return { currency, inputPerMTok, outputPerMTok, ...(cachedInputPerMTok === undefined ? {} : { cachedInputPerMTok }), source, checked };
}

/** The model's output cap where the table records one (the worst case of a request without max_completion_tokens). */
export function outputCapFor(q: { provider: string; model: string }): number | undefined {
  return PRICE_TABLE.find((r) => r.providers.includes(q.provider) && sameModel(q.model, r.model) && r.outputCap !== undefined)?.outputCap;
}

function priceRow(q: { provider: string; model: string; mode: 'batch' | 'realtime'; window?: string | undefined }): PriceRow | undefined {
  const rows = PRICE_TABLE.filter((r) => r.providers.includes(q.provider) && r.mode === q.mode && sameModel(q.model, r.model));
  // A row for the window asked wins over one for every window; an exact model id over a snapshot rule.
  const fits = rows.filter((r) => r.window === undefined || r.window === q.window);
  fits.sort((a, b) => Number(b.window !== undefined) - Number(a.window !== undefined) || Number(b.model === q.model) - Number(a.model === q.model));
  return fits[0];
}
