import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/index.js';
import { reportTally } from '../../src/report/report-tally.js';

const LABELS = ['pos', 'neg'];
// Two models under the several-models prefix; model a failed row 5 (hand-computed figures below).
const ROWS = [
  { custom_id: 'r1', gold: 'pos', 'a.label': 'pos', 'a.confidence': 0.9, 'a.error': null, 'a.prompt_tokens': 10, 'b.label': 'pos', 'b.error': null, 'b.prompt_tokens': 12 },
  { custom_id: 'r2', gold: 'pos', 'a.label': 'pos', 'a.confidence': 1, 'a.error': null, 'a.prompt_tokens': 10, 'b.label': 'neg', 'b.error': null, 'b.prompt_tokens': 12 },
  { custom_id: 'r3', gold: 'neg', 'a.label': 'neg', 'a.confidence': 0, 'a.error': null, 'a.prompt_tokens': 10, 'b.label': 'neg', 'b.error': null, 'b.prompt_tokens': 12 },
  { custom_id: 'r4', gold: 'neg', 'a.label': 'pos', 'a.confidence': 0.5, 'a.error': null, 'a.prompt_tokens': 10, 'b.label': 'neg', 'b.error': null, 'b.prompt_tokens': 12 },
  { custom_id: 'r5', gold: 'neg', 'a.label': null, 'a.confidence': null, 'a.error': 'HTTP 429: rate limited (rate_limit_exceeded)', 'a.prompt_tokens': null, 'b.label': 'pos', 'b.error': null, 'b.prompt_tokens': 12 },
];

function tallied(rows: Record<string, unknown>[], options: Parameters<typeof reportTally>[0]) {
  const tally = reportTally(options);
  rows.forEach((row, i) => tally.add(row, { record: i + 1 }));
  return tally.result();
}

describe('reportTally', () => {
  it("gives each model evaluate()'s figures on its own ALIAS. columns", async () => {
    const r = tallied(ROWS, { gold: 'gold', labels: LABELS, prefix: '' });
    expect(r.models.map((m) => m.alias)).toEqual(['a', 'b']);
    expect(r.models[0]!.eval).toEqual(await evaluate(ROWS, { gold: 'gold', pred: 'a.label', confidence: 'a.confidence', error: 'a.error', labels: LABELS }));
    // a: 3 right of 4 scored (r5 failed); b: r1, r3, r4 right of 5.
    expect(r.models.map((m) => m.eval?.accuracy)).toEqual([0.75, 0.6]);
    expect(r.models[0]!.unpredicted).toEqual({ failed: 1, empty: 0, not_a_label: 0 });
    expect(r.models.map((m) => m.tokens.prompt)).toEqual([40, 60]);
  });

  it("gives each pair of models their agreement and Cohen's kappa (hand-computed)", () => {
    const r = tallied(ROWS, { labels: LABELS, prefix: '' });
    // Both labeled r1–r4: same on r1, r3 → 0.5. Marginals a: pos 3, neg 1; b: pos 1, neg 3 → pe = 6/16; kappa = (0.5 − 0.375) / 0.625 = 0.2.
    expect(r.agreement).toHaveLength(1);
    expect(r.agreement[0]).toMatchObject({ a: 'a', b: 'b', n: 4, agreement: 0.5 });
    expect(r.agreement[0]!.kappa).toBeCloseTo(0.2, 12);
  });

  it('counts predicted labels, confidence bins and failures by cause without gold', () => {
    const r = tallied(ROWS, { labels: LABELS, prefix: '' });
    expect(r.models.map((m) => m.eval)).toEqual([null, null]);
    expect(r.models.map((m) => m.predicted)).toEqual([{ pos: 3, neg: 1 }, { pos: 2, neg: 3 }]);
    // 0 in the first bin, 0.5 in the 11th, 0.9 in the 19th and 1 in the last (closed) one.
    expect(r.models[0]!.confidence.flatMap((n, i) => (n > 0 ? [[i, n]] : []))).toEqual([[0, 1], [10, 1], [18, 1], [19, 1]]);
    expect(r.failures).toEqual([{ model: 'a', cause: 'http_429 (rate_limit_exceeded)', count: 1, examples: [{ id: 'r5', error: ROWS[4]!['a.error'] }] }]);
  });

  it('keeps a label named like an Object property as a label, and lists a label never predicted at 0', () => {
    const rows = [{ label: 'constructor' }, { label: 'constructor' }, { label: 'toString' }];
    expect(tallied(rows, { prefix: '' }).models[0]!.predicted).toEqual(JSON.parse('{"constructor": 2, "toString": 1}'));
    expect(tallied([{ label: 'Pos.' }], { prefix: '', labels: LABELS }).models[0]!.predicted).toEqual({ pos: 1, neg: 0 });
  });

  it('gives up the agreement of free-text answers (over 1,000 distinct, no labels) instead of failing the report', () => {
    const rows = Array.from({ length: 1002 }, (_, i) => ({ 'a.label': `answer ${i}`, 'b.label': `answer ${i}` }));
    const r = tallied(rows, { prefix: '' });
    expect(r.agreement).toEqual([{ a: 'a', b: 'b', n: 0, agreement: null, kappa: null }]);
    expect(r.models[0]!.unpredicted.not_a_label).toBe(2);
  });
});
