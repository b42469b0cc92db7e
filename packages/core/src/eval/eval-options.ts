import { z } from 'zod';
import { nonEmptyField } from '../options.js';

const column = (what: string) => nonEmptyField(`must be a column name (${what})`, `must be a non-empty column name (${what})`);

/** Options of `evaluate` and of the eval accumulator: which columns hold what, and how labels compare. */
export const EvaluateOptionsSchema = z
  .object({
    /** Column holding the trusted (gold) label. */
    gold: column('the gold label'),
    /** Column holding the predicted label (default `label`, the field a labels join adds). */
    pred: column('the predicted label').default('label'),
    /** Column holding the answer's confidence in [0, 1]; calibration and coverage appear when a scored row has one. */
    confidence: column('the confidence').default('confidence'),
    /** Column holding the join's error message; a non-empty one makes the row unscored (failed, invalid or missing). */
    error: column('the error message').default('error'),
    /** Give the same figures for each value of this column too. */
    by: column('the breakdown').optional(),
    /** The allowed labels: gold and prediction are matched to them as `--labels` matches answers (case, quotes, punctuation). */
    labels: z.array(z.string(), { error: 'must be a list of labels' }).optional(),
    /** Report the lowest confidence threshold whose answers reach this accuracy (0 < x ≤ 1). */
    targetAccuracy: z.number({ error: 'must be a number between 0 and 1' }).gt(0, { error: 'must be a number between 0 and 1' }).max(1, { error: 'must be a number between 0 and 1' }).optional(),
  })
  .strict();

/** Options of `evaluate` (see {@link EvaluateOptionsSchema}). */
export type EvaluateOptions = z.input<typeof EvaluateOptionsSchema>;
/** The same after defaults. */
export type ResolvedEvaluateOptions = z.output<typeof EvaluateOptionsSchema>;
