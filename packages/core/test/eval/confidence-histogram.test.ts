import { describe, expect, it } from 'vitest';
import { EXACT_CONFIDENCES, accuracyAtCoverage, calibration, confidenceBin, confidenceHistogram, countConfidence, fineBin, targetThreshold } from '../../src/eval/confidence-histogram.js';

function histogram(rows: Array<[number, boolean]>) {
  const h = confidenceHistogram();
  for (const [confidence, correct] of rows) countConfidence(h, confidence, correct);
  return h;
}

// Confidence 0.7 three times (two right), 0.9 once (right), 0.5 once (wrong): five rows.
const TIES: Array<[number, boolean]> = [[0.7, true], [0.9, true], [0.7, false], [0.5, false], [0.7, true]];

describe('fineBin', () => {
  it('puts a computed decimal on the 0.001 bin it names (1 − 0.937 = 0.06299…94 → bin 63), and 1 in the top bin', () => {
    expect((1 - 0.937) * 1000).toBeLessThan(63);
    expect(fineBin(1 - 0.937)).toBe(63);
    expect(fineBin(0.577)).toBe(577);
    expect(fineBin(0)).toBe(0);
    expect(fineBin(0.0009)).toBe(0);
    expect(fineBin(1)).toBe(999);
  });
});

describe('calibration', () => {
  it('gives accuracy and mean confidence per 0.1 bin and an ECE of 0.35 on a small set', () => {
    // 0.9–1.0: 0.95 right, 0.95 wrong → acc 0.5, mean 0.95, |gap| 0.45 × 2/5 = 0.18
    // 0.8–0.9: 0.85 right → |1 − 0.85| × 1/5 = 0.03;  0.5–0.6: 0.55 right → 0.45 × 1/5 = 0.09
    // 0.2–0.3: 0.25 wrong → 0.25 × 1/5 = 0.05.  ECE = 0.18 + 0.03 + 0.09 + 0.05 = 0.35
    const c = calibration(histogram([[0.95, true], [0.95, false], [0.85, true], [0.55, true], [0.25, false]]));
    expect(c.n).toBe(5);
    expect(c.ece).toBeCloseTo(0.35, 12);
    expect(c.bins).toHaveLength(10);
    expect(c.bins[9]).toMatchObject({ lower: 0.9, upper: 1, count: 2, accuracy: 0.5 });
    expect(c.bins[9]!.mean_confidence).toBeCloseTo(0.95, 12);
    expect(c.bins[2]).toMatchObject({ lower: 0.2, upper: 0.3, count: 1, accuracy: 0 });
    expect(c.bins[0]).toEqual({ lower: 0, upper: 0.1, count: 0, accuracy: null, mean_confidence: null });
  });

  it('puts a confidence on a bin edge (0.3, 0.7) in the bin below it, (lower, upper] as scikit-learn, 0 in the first and 1.0 in the last', () => {
    // sklearn.calibration.calibration_curve(n_bins=10) bins with searchsorted(edges, c, side='left'): 0.3 → (0.2, 0.3].
    const c = calibration(histogram([[0.3, true], [0.7, true], [1, true], [0, false], [0.30000001, true]]));
    expect(c.bins.map((b) => b.count)).toEqual([1, 0, 1, 1, 0, 0, 1, 0, 0, 1]);
  });
});

describe('accuracyAtCoverage', () => {
  it('takes tied confidences as one step: the fewest whole bins from the top reaching ⌈share × n⌉ rows', () => {
    // n = 5. 10 %, 20 %: ⌈0.5⌉ = ⌈1⌉ = 1 row → the 0.9 bin alone (1/1). 30 %–80 %: 2 to 4 rows → the 0.9 bin and all three
    // 0.7 ties: 4 rows, 3 right (0.75). 90 %, 100 %: 5 rows, 3 right (0.6), threshold 0.5.
    const points = accuracyAtCoverage(histogram(TIES));
    expect(points.map((p) => [p.coverage, p.threshold, p.answered, p.accuracy])).toEqual([
      [0.1, 0.9, 1, 1],
      [0.2, 0.9, 1, 1],
      [0.3, 0.7, 4, 0.75],
      [0.4, 0.7, 4, 0.75],
      [0.5, 0.7, 4, 0.75],
      [0.6, 0.7, 4, 0.75],
      [0.7, 0.7, 4, 0.75],
      [0.8, 0.7, 4, 0.75],
      [0.9, 0.5, 5, 0.6],
      [1, 0.5, 5, 0.6],
    ]);
  });
});

describe('confidenceBin', () => {
  it('is the 0.001 bin below 0.99, then 100 bins per decade of 1 − c, with 1 − c < 1e-12 and 1 in the top bin 1990', () => {
    expect([confidenceBin(0.577), confidenceBin(1 - 0.937), confidenceBin(0.9899)]).toEqual([577, 63, 989]);
    expect([confidenceBin(0.99), confidenceBin(0.999), confidenceBin(0.9999), confidenceBin(0.99995)]).toEqual([990, 1090, 1190, 1220]);
    expect([confidenceBin(1 - 1e-12), confidenceBin(1 - 1e-15), confidenceBin(1)]).toEqual([1990, 1990, 1990]);
  });
});

describe('near-1 confidences (LLM first-token confidences)', () => {
  // 60 rows at 0.99995, all right; 40 at 0.9991, half right: the two must not merge into one 0.999 bin.
  const NEAR_ONE: Array<[number, boolean]> = [
    ...Array.from({ length: 60 }, (): [number, boolean] => [0.99995, true]),
    ...Array.from({ length: 40 }, (_, i): [number, boolean] => [0.9991, i % 2 === 1]),
  ];

  it('separates confidences above 0.999 and reports the lowest confidence answered as the threshold', () => {
    expect(targetThreshold(histogram(NEAR_ONE), 0.95)).toEqual({ target_accuracy: 0.95, threshold: 0.99995, answered: 60, coverage: 0.6, accuracy: 1 });
    const points = accuracyAtCoverage(histogram(NEAR_ONE));
    expect(points.slice(0, 6).map((p) => [p.threshold, p.answered, p.accuracy])).toEqual(Array(6).fill([0.99995, 60, 1]));
    expect(points[6]).toEqual({ coverage: 0.7, threshold: 0.9991, answered: 100, accuracy: 0.8 });
  });

  it('still separates them past 2,048 distinct confidences (binned), the threshold being the lowest confidence of the bins taken', () => {
    // 3,000 distinct wrong rows spread over (0, 0.5) push the histogram into bins; the near-1 rows keep apart.
    const spread = Array.from({ length: 3000 }, (_, i): [number, boolean] => [(i + 1) / 6001, false]);
    const h = histogram([...NEAR_ONE, ...spread]);
    expect(h.exact).toBe(false);
    expect(h.cells.size).toBeLessThanOrEqual(EXACT_CONFIDENCES);
    expect(targetThreshold(h, 0.95)).toMatchObject({ threshold: 0.99995, answered: 60, accuracy: 1 });
    expect(targetThreshold(h, 0.8)).toMatchObject({ threshold: 0.9991, answered: 100, accuracy: 0.8 });
    // The calibration bins stay exact: 3,000 rows below 0.5 and 100 in (0.9, 1].
    expect(calibration(h).bins[9]).toMatchObject({ count: 100, accuracy: 0.8 });
  });
});

describe('targetThreshold', () => {
  it('gives the lowest threshold reaching the target, counting tied rows together', () => {
    // ≥ 0.9: 1/1; ≥ 0.7: 3/4 = 0.75; ≥ 0.5: 3/5 = 0.6. Target 0.75 → 0.7 (4 rows, 80 %); target 0.8 → 0.9 (1 row, 20 %).
    expect(targetThreshold(histogram(TIES), 0.75)).toEqual({ target_accuracy: 0.75, threshold: 0.7, answered: 4, coverage: 0.8, accuracy: 0.75 });
    expect(targetThreshold(histogram(TIES), 0.8)).toEqual({ target_accuracy: 0.8, threshold: 0.9, answered: 1, coverage: 0.2, accuracy: 1 });
  });

  it('reaches 0.95 with 19 right of 20 (compared as counts) and is null when no threshold reaches the target', () => {
    const rows: Array<[number, boolean]> = Array.from({ length: 20 }, (_, i) => [0.9, i > 0]);
    expect(targetThreshold(histogram(rows), 0.95)).toMatchObject({ threshold: 0.9, answered: 20, accuracy: 0.95 });
    expect(targetThreshold(histogram([[0.9, false], [0.4, false]]), 0.5)).toEqual({ target_accuracy: 0.5, threshold: null, answered: 0, coverage: 0, accuracy: null });
  });
});
