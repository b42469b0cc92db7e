/** Why a row has no usable prediction (each is counted, none is dropped silently). */
export const UNSCORED_REASONS = ['failed', 'invalid', 'missing', 'empty', 'not_a_label', 'no_gold', 'gold_not_a_label'] as const;
/**
 * failed: the request failed; invalid: the answer was rejected (labels/schema); missing: no result came back;
 * empty: no prediction (null or blank); not_a_label: the prediction is none of `labels`; no_gold: no gold label;
 * gold_not_a_label: the gold label is none of `labels`.
 */
export type UnscoredReason = (typeof UNSCORED_REASONS)[number];

/** Precision, recall, F1 and support of one label (0 where a ratio is 0/0, as scikit-learn's `zero_division=0`). */
export interface LabelFigures {
  precision: number;
  recall: number;
  f1: number;
  /** Scored rows whose gold label is this one. */
  support: number;
}

/** One of the 10 equal-width confidence bins: (lower, upper] as scikit-learn's and Guo et al.'s, the first one [0, 0.1]. */
export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  /** null when the bin is empty. */
  accuracy: number | null;
  mean_confidence: number | null;
}

/** How well confidence predicts correctness, over the scored rows that have a confidence. */
export interface Calibration {
  /** Scored rows with a confidence. */
  n: number;
  bins: CalibrationBin[];
  /** Expected calibration error: Σ (bin count / n) × |accuracy − mean confidence| over the 10 bins. */
  ece: number;
}

/** Accuracy when only the most confident rows are answered (confidence ≥ threshold). */
export interface CoveragePoint {
  /** The share asked for (0.1 … 1). */
  coverage: number;
  /**
   * Lowest confidence answered. Exact while the rows have at most 2,048 distinct confidences (ties are kept or left
   * together); beyond, rows are counted in bins (0.001 wide below 0.99, then 100 per decade of 1 − c) taken or left whole.
   */
  threshold: number;
  /** Rows answered: the fewest whole confidences (or bins) from the top that reach the share, so possibly a little more. */
  answered: number;
  accuracy: number;
}

/** The lowest threshold whose answered rows reach the target accuracy (`threshold` null when none does). */
export interface TargetThreshold {
  target_accuracy: number;
  threshold: number | null;
  answered: number;
  /** answered / rows with a confidence. */
  coverage: number;
  accuracy: number | null;
  /** Why no threshold was looked for (no scored row has a confidence); absent when one was. */
  not_computed?: string;
}

/** Every figure of one evaluation (the whole output, or one `by` group). */
export interface EvalFigures {
  /** Rows seen. */
  n: number;
  /** Rows with a gold and a usable prediction. */
  scored: number;
  /** n − scored. */
  unscored: number;
  unscored_by_reason: Record<UnscoredReason, number>;
  correct: number;
  /** correct / scored; null when nothing was scored. */
  accuracy: number | null;
  /** Mean F1 over `labels` (every label in gold, prediction or the `labels` option); null when there are none. */
  macro_f1: number | null;
  /** Cohen's kappa between gold and prediction; null when it is 0/0 (one label only on both sides, or nothing scored). */
  kappa: number | null;
  /** The labels in order: the `labels` option's first, then the others seen, sorted. */
  labels: string[];
  per_label: Record<string, LabelFigures>;
  /** {GOLD: {PRED: count}} over every label pair (zeros included). */
  confusion: Record<string, Record<string, number>>;
  /** Present when some scored row has a confidence. */
  calibration?: Calibration;
  /** Accuracy at coverage 10 %, 20 % … 100 % (present with calibration). */
  coverage?: CoveragePoint[];
  /** Present when `targetAccuracy` is given (with `not_computed` when no scored row has a confidence). */
  target?: TargetThreshold;
}

/** What `evaluate` returns and `kbatch eval --json` prints. */
export interface EvalResult extends EvalFigures {
  gold: string;
  pred: string;
  /** With the `by` option: the figures per value of that column (a missing or null value is group ""). */
  by?: { column: string; groups: Record<string, EvalFigures> };
}
