import { describe, expect, it } from 'vitest';
import { combineSummaries } from '../../src/models/models-summary.js';
import type { RunSummary } from '../../src/run/run-options.js';
import type { Spend } from '../../src/cost/spend-types.js';

const spend = (s: Partial<Spend>): Spend => ({ currency: 'USD', models: [], cost: null, unpriced: [], batchSaved: null, cacheSaved: null, prices: null, ...s });
// Only what the combined summary reads of each model's summary matters here.
const sub = (cached: number, s: Partial<Spend>): RunSummary =>
  ({ cached, rounds: 1, resumed: false, notRetried: {}, cachedTokens: { prompt: 0, completion: 0 }, records: 2, succeeded: 2, failed: 0, spend: spend(s) }) as unknown as RunSummary;
const combined = (...subs: RunSummary[]) =>
  combineSummaries(subs.map((summary, i) => ({ model: `m${i}`, alias: `m${i}`, jobDir: `/j/${i}`, summary })), { jobDir: '/j', records: 2, succeeded: 2, failed: 0, started: Date.now(), outputs: { output: null, rejects: null } as never }).spend;

describe('combineSummaries', () => {
  it('gives an unknown cache saving when a model that took answers from the cache has no price for them', () => {
    expect(combined(sub(3, { cacheSaved: 0.2 }), sub(4, { cacheSaved: null })).cacheSaved).toBeNull();
  });

  it('adds nothing for a model that took nothing from the cache', () => {
    expect(combined(sub(3, { cacheSaved: 0.2 }), sub(0, { cacheSaved: null })).cacheSaved).toBe(0.2);
    expect(combined(sub(0, {}), sub(0, {})).cacheSaved).toBeNull();
  });

  it('gives an unknown batch saving when one model’s is unknown, and the priced part of the cost with the rest unpriced', () => {
    const s = combined(sub(0, { batchSaved: 1, cost: 2 }), sub(0, { batchSaved: null, cost: null, unpriced: ['m1 (batch)'] }));
    expect(s.batchSaved).toBeNull();
    expect(s.cost).toBe(2);
    expect(s.unpriced).toEqual(['m1 (batch)']);
  });
});
