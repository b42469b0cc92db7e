import { describe, expect, it } from 'vitest';
import { costOf, formatSpend, spendOf, unknownPrices, UsageTally } from '../../src/cost/spend.js';
import type { Price, PriceOf } from '../../src/cost/spend-types.js';

const price = (inputPerMTok: number, outputPerMTok: number, cachedInputPerMTok?: number): Price => ({
  currency: 'USD',
  inputPerMTok,
  outputPerMTok,
  ...(cachedInputPerMTok !== undefined ? { cachedInputPerMTok } : {}),
  source: 'https://example.test/pricing',
  checked: '2026-11-01',
});

// Realtime at full price, batch at half, for model "m" only.
const halfPriceBatch: PriceOf = ({ model, mode }) => (model !== 'm' ? undefined : mode === 'batch' ? price(1, 4, 0.25) : price(2, 8, 0.5));

describe('UsageTally', () => {
  it('adds prompt, completion, reasoning and cached tokens from OpenAI-shaped usage, per mode', () => {
    const tally = new UsageTally('m');
    tally.addBody('batch', { usage: { prompt_tokens: 100, completion_tokens: 50, completion_tokens_details: { reasoning_tokens: 30 }, prompt_tokens_details: { cached_tokens: 40 } } });
    tally.addBody('batch', { usage: { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: null } });
    tally.addBody('realtime', { usage: { prompt_tokens: 7, completion_tokens: 1 } });
    tally.addBody('batch', { choices: [] }); // no usage: not an answer paid for
    tally.addBody('batch', null);
    expect(tally.models.get('m')).toEqual({
      batch: { requests: 2, promptTokens: 110, completionTokens: 55, reasoningTokens: 30, cachedTokens: 40 },
      realtime: { requests: 1, promptTokens: 7, completionTokens: 1, reasoningTokens: 0, cachedTokens: 0 },
    });
  });

  it('counts a normalized result with or without details, and skips one without tokens', () => {
    const tally = new UsageTally('m');
    tally.addResult('realtime', { promptTokens: 3, completionTokens: 2, reasoningTokens: 1, cachedTokens: 2 });
    tally.addResult('realtime', { promptTokens: 4, completionTokens: null });
    tally.addResult('realtime', { promptTokens: null, completionTokens: null });
    expect(tally.models.get('m')!.realtime).toEqual({ requests: 2, promptTokens: 7, completionTokens: 2, reasoningTokens: 1, cachedTokens: 2 });
  });
});

describe('costOf', () => {
  it('bills cached prompt tokens at the cached price and reasoning tokens once, inside completion tokens', () => {
    const counts = { requests: 1, promptTokens: 1_000_000, completionTokens: 500_000, reasoningTokens: 400_000, cachedTokens: 200_000 };
    // 800k × $2 + 200k × $0.5 + 500k × $8 (the 400k reasoning tokens are part of the 500k)
    expect(costOf(counts, price(2, 8, 0.5))).toBeCloseTo(1.6 + 0.1 + 4, 10);
    // No cached price: cached tokens at the input price.
    expect(costOf(counts, price(2, 8))).toBeCloseTo(2 + 4, 10);
  });

  it('never bills more cached tokens than prompt tokens', () => {
    expect(costOf({ requests: 1, promptTokens: 10, completionTokens: 0, reasoningTokens: 0, cachedTokens: 50 }, price(1e6, 0, 0))).toBe(0);
  });
});

describe('spendOf', () => {
  it('prices batch answers at the batch price, realtime ones at the realtime price, and counts what the discount saved', () => {
    const tally = new UsageTally('m');
    tally.add('batch', { prompt: 1_000_000, completion: 1_000_000 });
    tally.add('realtime', { prompt: 1_000_000, completion: 0 });
    const spend = spendOf(tally, { priceOf: halfPriceBatch, provider: 'kluster', window: '24h' });
    expect(spend).toMatchObject({ currency: 'USD', cost: 1 + 4 + 2, batchSaved: 5, unpriced: [], cacheSaved: null, prices: { source: 'https://example.test/pricing', checked: '2026-11-01' } });
    expect(spend.models).toEqual([
      {
        provider: 'kluster',
        model: 'm',
        batch: { requests: 1, promptTokens: 1_000_000, completionTokens: 1_000_000, reasoningTokens: 0, cachedTokens: 0 },
        realtime: { requests: 1, promptTokens: 1_000_000, completionTokens: 0, reasoningTokens: 0, cachedTokens: 0 },
        cost: 7,
        batchSaved: 5,
      },
    ]);
  });

  it('asks the lookup with the provider, model, mode and (for batch) the window', () => {
    const asked: unknown[] = [];
    const tally = new UsageTally('m');
    tally.add('batch', { prompt: 1, completion: 1 });
    spendOf(tally, { priceOf: (q) => (asked.push(q), price(1, 1)), provider: 'openai', window: '24h' });
    expect(asked).toEqual([
      { provider: 'openai', model: 'm', mode: 'batch', window: '24h' },
      { provider: 'openai', model: 'm', mode: 'realtime' },
    ]);
  });

  it('says a cost is unknown (null, never $0) when no price is known', () => {
    const tally = new UsageTally('nobody-knows');
    tally.add('batch', { prompt: 10, completion: 10 });
    const spend = spendOf(tally, { priceOf: unknownPrices, provider: 'kluster' });
    expect(spend).toMatchObject({ cost: null, batchSaved: null, unpriced: ['nobody-knows (batch)'], prices: null });
    expect(spend.models[0]!.cost).toBeNull();
    expect(formatSpend(spend)).toEqual(['cost unknown (no price for nobody-knows (batch)) (nobody-knows: 10 prompt + 10 completion tokens in 1 batch request); batch discount saved: unknown']);
  });

  it('totals the known models and names the unknown ones when prices are mixed', () => {
    const known = new UsageTally('m');
    known.add('realtime', { prompt: 1_000_000, completion: 0 });
    const other = new UsageTally('x');
    other.add('realtime', { prompt: 5, completion: 5 });
    for (const [model, counts] of other.models) known.models.set(model, counts);
    const spend = spendOf(known, { priceOf: halfPriceBatch, provider: 'kluster' });
    expect(spend).toMatchObject({ cost: 2, unpriced: ['x (realtime)'], batchSaved: 0 });
    expect(spend.models.map((m) => m.cost)).toEqual([2, null]);
    expect(formatSpend(spend)[0]).toMatch(/^cost at least \$2\.0000 \(no price for x \(realtime\)\)/);
  });

  it('is $0 with nothing paid for, and shows the cache saving when given', () => {
    const spend = spendOf(new UsageTally('m'), { priceOf: halfPriceBatch, provider: 'kluster', cached: { answers: 1, tokens: { prompt: 500_000, completion: 0 }, model: 'm', mode: 'batch' } });
    expect(spend).toMatchObject({ cost: 0, batchSaved: 0, cacheSaved: 0.5, models: [] });
    expect(formatSpend(spend)).toEqual([]);
  });

  it('prices what the cache saved at the mode the run sends in: null with no cached answer or an unknown price, never 0 for unknown', () => {
    const tokens = { prompt: 1_000_000, completion: 500_000 };
    const at = (mode: 'batch' | 'realtime', answers = 3): ReturnType<typeof spendOf> => spendOf(new UsageTally('m'), { priceOf: halfPriceBatch, provider: 'kluster', cached: { answers, tokens, model: 'm', mode } });
    // $1 + 0.5 × $4 at batch prices; twice that at realtime prices.
    expect(at('batch')).toMatchObject({ cost: 0, cacheSaved: 3, prices: { checked: '2026-11-01' } });
    expect(at('realtime').cacheSaved).toBe(6);
    expect(at('batch', 0)).toMatchObject({ cacheSaved: null, prices: null });
    expect(spendOf(new UsageTally('m'), { priceOf: unknownPrices, provider: 'kluster', cached: { answers: 3, tokens, model: 'm', mode: 'batch' } }).cacheSaved).toBeNull();
  });

  it('describes reasoning and cached tokens in the summary line', () => {
    const tally = new UsageTally('m');
    tally.add('batch', { prompt: 100, completion: 50, reasoning: 30, cached: 40 });
    expect(formatSpend(spendOf(tally, { priceOf: halfPriceBatch, provider: 'kluster' }))).toEqual([
      // 60 × $1 + 40 × $0.25 + 50 × $4 per million at batch prices; twice that at realtime prices
      'cost $0.00027 (m: 100 prompt (40 cached) + 50 completion (30 reasoning) tokens in 1 batch request); batch discount saved $0.00027; prices checked 2026-11-01',
    ]);
  });
});
