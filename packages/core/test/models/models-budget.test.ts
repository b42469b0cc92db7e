import { describe, expect, it } from 'vitest';
import { appliedCap, budgetShares } from '../../src/models/models-budget.js';
import type { JobEstimate } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

function estimate(model: string, worst: number | null, mode: 'batch' | 'realtime' = 'batch'): JobEstimate {
  return {
    records: 10,
    requests: 10,
    skipped: 0,
    batches: 1,
    limits: { max_requests: 50_000, max_bytes: 1e9, max_batch_tokens: null },
    provider: 'openai',
    model,
    mode,
    window: '24h',
    prompt_tokens: 1000,
    completion_tokens: { expected: 10, max: worst === null ? null : 100, per_request: { expected: 1, max: worst === null ? null : 10 }, expected_from: 'labels', max_from: worst === null ? 'unknown' : 'max_completion_tokens' },
    cost: { currency: 'USD', expected: worst, worst_case: worst },
    tokenizer: 'o200k',
    tokenizer_exact: true,
    prices: { input_per_mtok: 1, output_per_mtok: 2, source: 'test', checked: '2026-01-01' },
  };
}

describe('budgetShares', () => {
  it('gives each model its worst case plus its share of the room the sum leaves, so together they stay under the cap', () => {
    const shares = budgetShares([estimate('a', 0.3), estimate('b', 0.5)], 1);
    expect(shares[0]).toBeCloseTo(0.375, 12);
    expect(shares[1]).toBeCloseTo(0.625, 12);
    expect(shares[0]! + shares[1]!).toBeLessThanOrEqual(1);
  });

  it('keeps the caps summed at most the cap and each at least its worst case, whatever the rounding', () => {
    for (let i = 1; i <= 500; i++) {
      const worst = [0.1 * (i % 7) + 1e-9 * i, 0.3 / i, 0.2 + i / 997];
      const max = worst.reduce((n, w) => n + w, 0) + (i % 3 === 0 ? 0 : 1 / (i * 13));
      const shares = budgetShares(worst.map((w, k) => estimate(`m${k}`, w)), max);
      expect(shares.reduce((n, s) => n + s, 0)).toBeLessThanOrEqual(max);
      shares.forEach((s, k) => expect(s).toBeGreaterThanOrEqual(worst[k]!));
    }
  });

  it('lets models whose worst cases sum exactly to the cap each pass their own check', () => {
    const shares = budgetShares([estimate('a', 0.1), estimate('b', 0.2)], 0.1 + 0.2);
    expect(shares[0]).toBeGreaterThanOrEqual(0.1);
    expect(shares[1]).toBeGreaterThanOrEqual(0.2);
    expect(shares[0]! + shares[1]!).toBeLessThanOrEqual(0.1 + 0.2);
  });

  it('refuses batch models whose worst cases together are above the cap with BUDGET_EXCEEDED, though each fits alone', async () => {
    const err = await catchError(() => budgetShares([estimate('a', 0.6), estimate('b', 0.6)], 1));
    expectKbatchError(err, { code: 'BUDGET_EXCEEDED', message: 'a $0.60, b $0.60' });
  });

  it('splits the cap evenly between realtime models over it, or when a worst case is unknown', () => {
    expect(budgetShares([estimate('a', 0.9, 'realtime'), estimate('b', 0.9, 'realtime')], 1)).toEqual([0.5, 0.5]);
    expect(budgetShares([estimate('a', null, 'realtime'), estimate('b', 0.1, 'realtime')], 1)).toEqual([0.5, 0.5]);
  });

  it('refuses a batch model whose worst case is unknown with COST_UNKNOWN', async () => {
    const err = await catchError(() => budgetShares([estimate('a', null), estimate('b', 0.1)], 1));
    expectKbatchError(err, { code: 'COST_UNKNOWN' });
  });

  it('splits the cap evenly when every worst case is 0', () => {
    expect(budgetShares([estimate('a', 0), estimate('b', 0)], 1)).toEqual([0.5, 0.5]);
  });
});

describe('appliedCap', () => {
  it("takes this call's cap, else the one stored with the job's options (a rerun without --max-cost still shares it)", () => {
    expect(appliedCap(2, { options: { maxCost: 5 } })).toBe(2);
    expect(appliedCap(undefined, { options: { maxCost: 5 } })).toBe(5);
    expect(appliedCap(undefined, { options: {} })).toBeUndefined();
  });
});
