import { describe, expect, it } from 'vitest';
import { cohenKappa, countPair, labelCounts, labelFigures, orderLabels } from '../../src/eval/label-counts.js';

function tally(pairs: Array<[string, string, number?]>) {
  const counts = labelCounts();
  for (const [gold, pred, times = 1] of pairs) for (let i = 0; i < times; i++) countPair(counts, gold, pred);
  return counts;
}

describe('cohenKappa', () => {
  it("gives 0.4 on Wikipedia's Cohen's kappa example (20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no)", () => {
    // po = (20 + 15) / 50 = 0.7; pe = (25·30 + 25·20) / 50² = 0.5; kappa = (0.7 − 0.5) / (1 − 0.5) = 0.4
    const counts = tally([['yes', 'yes', 20], ['yes', 'no', 5], ['no', 'yes', 10], ['no', 'no', 15]]);
    expect(cohenKappa(counts)).toBeCloseTo(0.4, 12);
  });

  it("gives 0.6875 on scikit-learn's cohen_kappa_score docstring example", () => {
    // y1 = [neg, pos, neg, neu, pos], y2 = [neg, pos, neg, neu, neg]: po = 4/5; y1 has neg 2, pos 2, neu 1 and y2 neg 3,
    // pos 1, neu 1, so pe = (2·3 + 2·1 + 1·1) / 25 = 0.36; kappa = (0.8 − 0.36) / 0.64 = 0.6875
    const y1 = ['negative', 'positive', 'negative', 'neutral', 'positive'];
    const y2 = ['negative', 'positive', 'negative', 'neutral', 'negative'];
    expect(cohenKappa(tally(y1.map((g, i) => [g, y2[i]!])))).toBeCloseTo(0.6875, 12);
  });

  it('is null when chance agreement is 1 (one label on both sides) and when nothing was scored', () => {
    // pe = 3·3 / 3² = 1: (po − pe) / (1 − pe) is 0/0 (scikit-learn: NaN)
    expect(cohenKappa(tally([['a', 'a', 3]]))).toBeNull();
    expect(cohenKappa(labelCounts())).toBeNull();
  });
});

describe('labelFigures', () => {
  it("matches scikit-learn's f1_score docstring example (macro 0.2667, per class 0.8, 0, 0)", () => {
    // y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]. Class 0: tp 2, predicted 3, support 2 → P 2/3, R 1,
    // F1 = 2·2 / (3 + 2) = 0.8; classes 1 and 2: tp 0 → P = R = F1 = 0. Macro-F1 = 0.8 / 3 = 0.2667.
    const yTrue = ['0', '1', '2', '0', '1', '2'];
    const yPred = ['0', '2', '1', '0', '0', '1'];
    const counts = tally(yTrue.map((g, i) => [g, yPred[i]!]));
    const f = labelFigures(counts, orderLabels(counts, []));
    expect(f.per_label['0']).toEqual({ precision: 2 / 3, recall: 1, f1: 0.8, support: 2 });
    expect(f.per_label['1']).toEqual({ precision: 0, recall: 0, f1: 0, support: 2 });
    expect(f.macro_f1).toBeCloseTo(0.8 / 3, 12);
    expect(f.accuracy).toBeCloseTo(2 / 6, 12);
  });

  it('gives a listed label that never occurs precision, recall and F1 0 (zero_division=0) and counts it in macro-F1', () => {
    // pos: tp 1, predicted 1, support 2 → P 1, R 0.5, F1 2/3. neg: tp 2, predicted 3, support 2 → P 2/3, R 1, F1 0.8.
    // neutral: never gold, never predicted → 0/0 everywhere → 0. Macro-F1 = (2/3 + 0.8 + 0) / 3 = 0.48889, as
    // f1_score(labels=[pos, neg, neutral], average='macro', zero_division=0). Kappa: po 3/4, pe (2·1 + 2·3)/16 = 0.5 → 0.5.
    const counts = tally([['pos', 'pos'], ['pos', 'neg'], ['neg', 'neg', 2]]);
    const labels = orderLabels(counts, ['pos', 'neg', 'neutral']);
    const f = labelFigures(counts, labels);
    expect(labels).toEqual(['pos', 'neg', 'neutral']);
    expect(f.per_label).toEqual({
      pos: { precision: 1, recall: 0.5, f1: 2 / 3, support: 2 },
      neg: { precision: 2 / 3, recall: 1, f1: 0.8, support: 2 },
      neutral: { precision: 0, recall: 0, f1: 0, support: 0 },
    });
    expect(f.macro_f1).toBeCloseTo((2 / 3 + 0.8) / 3, 12);
    expect(f.kappa).toBeCloseTo(0.5, 12);
    expect(f.confusion).toEqual({ pos: { pos: 1, neg: 1, neutral: 0 }, neg: { pos: 0, neg: 2, neutral: 0 }, neutral: { pos: 0, neg: 0, neutral: 0 } });
  });

  it('orders listed labels first, then the others seen in gold or prediction, sorted', () => {
    const counts = tally([['zeta', 'alpha'], ['b', 'b']]);
    expect(orderLabels(counts, ['b'])).toEqual(['b', 'alpha', 'zeta']);
  });
});
