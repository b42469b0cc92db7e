import type { Calibration, CalibrationBin, CoveragePoint, TargetThreshold } from './eval-result.js';

/** Fine bins of confidence: the resolution of coverage thresholds is 1 / FINE_BINS = 0.001. */
export const FINE_BINS = 1000;
const CALIBRATION_BINS = 10;
const PER_CALIBRATION_BIN = FINE_BINS / CALIBRATION_BINS;
// Lifts a confidence within 1e-12 below a grid line (1 − 0.937 = 0.06299…94) onto the bin the decimal names.
const EPSILON = 1e-9;

/**
 * Scored rows by confidence in a fixed histogram (constant memory, no sort): per 0.001 bin, the rows, the correct
 * ones and the sum of their confidences. Equal confidences always share a bin, so ties are taken or left as one step.
 */
export interface ConfidenceHistogram {
  n: number;
  count: Float64Array;
  correct: Float64Array;
  confidenceSum: Float64Array;
}

/** An empty histogram. */
export function confidenceHistogram(): ConfidenceHistogram {
  return { n: 0, count: new Float64Array(FINE_BINS), correct: new Float64Array(FINE_BINS), confidenceSum: new Float64Array(FINE_BINS) };
}

/** The fine bin of a confidence in [0, 1]: ⌊c × 1000⌋, with 1 in the top bin. */
export function fineBin(confidence: number): number {
  return Math.min(FINE_BINS - 1, Math.floor(confidence * FINE_BINS + EPSILON));
}

/** Count one scored row with a confidence. */
export function countConfidence(h: ConfidenceHistogram, confidence: number, correct: boolean): void {
  const bin = fineBin(confidence);
  h.n++;
  h.count[bin]!++;
  if (correct) h.correct[bin]!++;
  h.confidenceSum[bin]! += confidence;
}

/** Accuracy and mean confidence in 10 equal-width bins, and the expected calibration error (exact means, not bin centres). */
export function calibration(h: ConfidenceHistogram): Calibration {
  const bins: CalibrationBin[] = [];
  let ece = 0;
  for (let i = 0; i < CALIBRATION_BINS; i++) {
    let count = 0;
    let correct = 0;
    let sum = 0;
    for (let b = i * PER_CALIBRATION_BIN; b < (i + 1) * PER_CALIBRATION_BIN; b++) {
      count += h.count[b]!;
      correct += h.correct[b]!;
      sum += h.confidenceSum[b]!;
    }
    const accuracy = count === 0 ? null : correct / count;
    const mean = count === 0 ? null : sum / count;
    if (accuracy !== null && mean !== null) ece += (count / h.n) * Math.abs(accuracy - mean);
    bins.push({ lower: i / CALIBRATION_BINS, upper: (i + 1) / CALIBRATION_BINS, count, accuracy, mean_confidence: mean });
  }
  return { n: h.n, bins, ece };
}

/**
 * Accuracy when answering only the most confident 10 %, 20 % … 100 %: for each share, the fewest whole fine bins from
 * the top holding at least ⌈share × n⌉ rows (so `answered` may exceed the share by one bin's rows).
 */
export function accuracyAtCoverage(h: ConfidenceHistogram): CoveragePoint[] {
  const points: CoveragePoint[] = [];
  let count = 0;
  let correct = 0;
  let step = 1;
  for (let b = FINE_BINS - 1; b >= 0 && step <= 10; b--) {
    count += h.count[b]!;
    correct += h.correct[b]!;
    while (step <= 10 && count > 0 && count >= Math.ceil((step * h.n) / 10)) {
      points.push({ coverage: step / 10, threshold: b / FINE_BINS, answered: count, accuracy: correct / count });
      step++;
    }
  }
  return points;
}

/** The lowest 0.001-grid threshold whose rows (confidence ≥ threshold) reach `target` accuracy: the most answered. */
export function targetThreshold(h: ConfidenceHistogram, target: number): TargetThreshold {
  let count = 0;
  let correct = 0;
  let best: TargetThreshold = { target_accuracy: target, threshold: null, answered: 0, coverage: 0, accuracy: null };
  for (let b = FINE_BINS - 1; b >= 0; b--) {
    if (h.count[b] === 0) continue;
    count += h.count[b]!;
    correct += h.correct[b]!;
    // Compared as counts so 19/20 reaches 0.95 whatever the rounding of the quotient.
    if (correct >= target * count - EPSILON) {
      best = { target_accuracy: target, threshold: b / FINE_BINS, answered: count, coverage: count / h.n, accuracy: correct / count };
    }
  }
  return best;
}
