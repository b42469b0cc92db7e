import type { Calibration, CalibrationBin, CoveragePoint, TargetThreshold } from './eval-result.js';

/** Fine bins of confidence below 0.99: 0.001 wide (⌊c × 1000⌋). */
export const FINE_BINS = 1000;
/** Most distinct confidences counted exactly; beyond, rows are counted in {@link confidenceBin}s (at most 1,991). */
export const EXACT_CONFIDENCES = 2048;
/** Bins per decade of 1 − c above 0.99: the resolution there is a factor 10^(1/100) ≈ 1.023 of the distance to 1. */
const NEAR_ONE_PER_DECADE = 100;
/** Decades of 1 − c resolved above 0.99 (down to 1 − c = 1e-12); closer to 1 shares the top bin. */
const NEAR_ONE_DECADES = 10;
const NEAR_ONE = 0.99;
const CALIBRATION_BINS = 10;
// Lifts a confidence within 1e-12 below a grid line (1 − 0.937 = 0.06299…94) onto the bin the decimal names.
const EPSILON = 1e-9;

/** The rows at one confidence (or, past {@link EXACT_CONFIDENCES}, in one bin) and the lowest confidence among them. */
interface Cell {
  count: number;
  correct: number;
  lowest: number;
}

/**
 * Scored rows by confidence, sparse (no sort until figures are asked for): the rows and the correct ones per distinct
 * confidence, exact up to {@link EXACT_CONFIDENCES} distinct values, then per {@link confidenceBin}; and exact counts
 * and confidence sums per 0.1 calibration bin. Equal confidences always share a cell, so ties are taken or left as one step.
 */
export interface ConfidenceHistogram {
  n: number;
  /** Keyed by the confidence while `exact`, then by its bin (both keys order cells as their confidences do). */
  cells: Map<number, Cell>;
  exact: boolean;
  calibration: { count: number[]; correct: number[]; confidenceSum: number[] };
}

/** An empty histogram. */
export function confidenceHistogram(): ConfidenceHistogram {
  const zeros = (): number[] => new Array<number>(CALIBRATION_BINS).fill(0);
  return { n: 0, cells: new Map(), exact: true, calibration: { count: zeros(), correct: zeros(), confidenceSum: zeros() } };
}

/** The fine bin of a confidence in [0, 1]: ⌊c × 1000⌋, with 1 in the top bin. */
export function fineBin(confidence: number): number {
  return Math.min(FINE_BINS - 1, Math.floor(confidence * FINE_BINS + EPSILON));
}

/**
 * The bin of a confidence once there are too many distinct ones: 0.001 wide below 0.99 ({@link fineBin}), then 100 per
 * decade of 1 − c (0.99 → 990, 0.999 → 1090, 0.9999 → 1190 …), 1 − c < 1e-12 and 1 itself in the top bin, 1990.
 */
export function confidenceBin(confidence: number): number {
  if (confidence < NEAR_ONE) return fineBin(confidence);
  const top = NEAR_ONE_DECADES * NEAR_ONE_PER_DECADE;
  const decades = -Math.log10(1 - confidence) - 2;
  return NEAR_ONE * FINE_BINS + Math.min(top, Math.floor(decades * NEAR_ONE_PER_DECADE + EPSILON));
}

/** Count one scored row with a confidence. */
export function countConfidence(h: ConfidenceHistogram, confidence: number, correct: boolean): void {
  h.n++;
  const c = h.calibration;
  const bin = calibrationBin(confidence);
  c.count[bin]!++;
  if (correct) c.correct[bin]!++;
  c.confidenceSum[bin]! += confidence;
  if (h.exact && h.cells.size === EXACT_CONFIDENCES && !h.cells.has(confidence)) toBins(h);
  const key = h.exact ? confidence : confidenceBin(confidence);
  const cell = h.cells.get(key);
  if (cell === undefined) h.cells.set(key, { count: 1, correct: correct ? 1 : 0, lowest: confidence });
  else {
    cell.count++;
    if (correct) cell.correct++;
    if (confidence < cell.lowest) cell.lowest = confidence;
  }
}

// Too many distinct confidences: merge the exact cells into bins (memory stays at most one cell per bin).
function toBins(h: ConfidenceHistogram): void {
  const bins = new Map<number, Cell>();
  for (const [confidence, cell] of h.cells) {
    const key = confidenceBin(confidence);
    const bin = bins.get(key);
    if (bin === undefined) bins.set(key, { ...cell });
    else {
      bin.count += cell.count;
      bin.correct += cell.correct;
      bin.lowest = Math.min(bin.lowest, cell.lowest);
    }
  }
  h.cells = bins;
  h.exact = false;
}

/** Calibration bins are (lower, upper] (as scikit-learn and Guo et al.), the first one [0, 0.1]. */
function calibrationBin(confidence: number): number {
  return Math.max(0, Math.min(CALIBRATION_BINS - 1, Math.ceil(confidence * CALIBRATION_BINS - EPSILON) - 1));
}

/** Accuracy and mean confidence in 10 equal-width bins, and the expected calibration error (exact means, not bin centres). */
export function calibration(h: ConfidenceHistogram): Calibration {
  const bins: CalibrationBin[] = [];
  let ece = 0;
  for (let i = 0; i < CALIBRATION_BINS; i++) {
    const count = h.calibration.count[i]!;
    const accuracy = count === 0 ? null : h.calibration.correct[i]! / count;
    const mean = count === 0 ? null : h.calibration.confidenceSum[i]! / count;
    if (accuracy !== null && mean !== null) ece += (count / h.n) * Math.abs(accuracy - mean);
    bins.push({ lower: i / CALIBRATION_BINS, upper: (i + 1) / CALIBRATION_BINS, count, accuracy, mean_confidence: mean });
  }
  return { n: h.n, bins, ece };
}

// The cells from the most confident down (at most EXACT_CONFIDENCES or 1,991 of them).
function fromTop(h: ConfidenceHistogram): Cell[] {
  return [...h.cells.entries()].sort((a, b) => b[0] - a[0]).map(([, cell]) => cell);
}

/**
 * Accuracy when answering only the most confident 10 %, 20 % … 100 %: for each share, the fewest whole cells from
 * the top holding at least ⌈share × n⌉ rows (so `answered` may exceed the share by one cell's rows); the threshold is
 * the lowest confidence answered.
 */
export function accuracyAtCoverage(h: ConfidenceHistogram): CoveragePoint[] {
  const points: CoveragePoint[] = [];
  let count = 0;
  let correct = 0;
  let step = 1;
  for (const cell of fromTop(h)) {
    if (step > 10) break;
    count += cell.count;
    correct += cell.correct;
    while (step <= 10 && count > 0 && count >= Math.ceil((step * h.n) / 10)) {
      points.push({ coverage: step / 10, threshold: cell.lowest, answered: count, accuracy: correct / count });
      step++;
    }
  }
  return points;
}

/** The lowest confidence threshold whose rows (confidence ≥ threshold) reach `target` accuracy: the most answered. */
export function targetThreshold(h: ConfidenceHistogram, target: number): TargetThreshold {
  let count = 0;
  let correct = 0;
  let best: TargetThreshold = { target_accuracy: target, threshold: null, answered: 0, coverage: 0, accuracy: null };
  for (const cell of fromTop(h)) {
    count += cell.count;
    correct += cell.correct;
    // Compared as counts so 19/20 reaches 0.95 whatever the rounding of the quotient.
    if (correct >= target * count - EPSILON) {
      best = { target_accuracy: target, threshold: cell.lowest, answered: count, coverage: count / h.n, accuracy: correct / count };
    }
  }
  return best;
}
