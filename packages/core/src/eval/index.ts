// The eval area's public surface: output rows against gold labels (accuracy, per-label F1, kappa, confusion,
// calibration, accuracy at coverage), re-exported by src/index.ts.
export { evaluate } from './evaluate.js';
export { evaluateFile, EvaluateFileOptionsSchema } from './evaluate-file.js';
export type { EvaluateFileOptions } from './evaluate-file.js';
export { evalAccumulator } from './eval-accumulator.js';
export type { EvalAccumulator } from './eval-accumulator.js';
export { EvaluateOptionsSchema } from './eval-options.js';
export type { EvaluateOptions, ResolvedEvaluateOptions } from './eval-options.js';
export { formatEvaluation, formatEvaluationBrief, BRIEF_CONFUSION_LABELS } from './format-evaluation.js';
export { runEvaluation, paidRowsEvaluation, costPerCorrect, checkGoldColumn, goldInTemplate, GoldFieldSchema, EVAL_FILE } from './run-evaluation.js';
export type { RunEvaluation } from './run-evaluation.js';
export { UNSCORED_REASONS } from './eval-result.js';
export type { EvalResult, EvalFigures, LabelFigures, Calibration, CalibrationBin, CoveragePoint, TargetThreshold, UnscoredReason } from './eval-result.js';
export type { RowVerdict, RowPlace } from './row-verdict.js';
