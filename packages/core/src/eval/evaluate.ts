import { KbatchError } from '../errors.js';
import type { EvaluateOptions } from './eval-options.js';
import type { EvalResult } from './eval-result.js';
import { evalAccumulator } from './eval-accumulator.js';

/**
 * Evaluate output rows against their gold labels, one row at a time (constant memory).
 * @param rows - joined output rows (objects), from an array, a generator or a stream
 * @param options - see `EvaluateOptionsSchema`: `gold` is required, `pred` defaults to `label`
 * @returns the figures `kbatch eval --json` prints
 * @throws KbatchError EVAL_COLUMN_MISSING (a row without the gold or prediction column; one without `by` is group ""),
 *   EVAL_TOO_MANY_LABELS (over 1,000 distinct labels without a `labels` list), EVAL_TOO_MANY_GROUPS (over 1,000 `by`
 *   values), RECORD_INVALID
 *   (a row that is not an object, or a confidence outside [0, 1]), OPTION_INVALID
 * @example
 * const result = await evaluate(rows, { gold: 'sentiment', labels: ['positive', 'negative', 'neutral'] });
 * console.log(result.accuracy, result.kappa, result.confusion);
 */
export async function evaluate(rows: Iterable<unknown> | AsyncIterable<unknown>, options: EvaluateOptions): Promise<EvalResult> {
  const acc = evalAccumulator(options);
  let record = 0;
  for await (const row of rows) {
    record++;
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new KbatchError('RECORD_INVALID', `row ${record} must be an object of columns, got ${row === null ? 'null' : Array.isArray(row) ? 'an array' : typeof row}`, { record });
    }
    acc.add(row as Record<string, unknown>, { record });
  }
  return acc.result();
}
