// A run's evaluation against its input's gold column: fed row by row as the join writes them (no second pass).
import { recordBatches } from '../records/record-batches.js';
import type { ReadRecordsOptions } from '../records/read-options.js';
import type { Spend } from '../cost/spend-types.js';
import { EvaluateOptionsSchema, type EvaluateOptions } from './eval-options.js';
import { evalAccumulator } from './eval-accumulator.js';
import type { EvalResult } from './eval-result.js';
import { requireColumn } from './row-verdict.js';
import { compileTemplate } from '../request/template.js';

/** The run option `gold`: the input column holding the trusted label (composed into the run's options). */
export const GoldFieldSchema = EvaluateOptionsSchema.shape.gold;

/** The job directory's evaluation (`kbatch run --gold`), rewritten by every call that joins. */
export const EVAL_FILE = 'eval.json';

/** Counts a run's output rows against gold; `result()` gives what `kbatch eval --json` prints for the same output. */
export interface RunEvaluation {
  /** Never throws: the rows are already paid for and written; a failure is kept for `result()`. */
  add(row: Record<string, unknown>): void;
  /** @throws the first error counting a row hit (e.g. EVAL_TOO_MANY_LABELS) */
  result(): EvalResult;
}

/**
 * The evaluation of a run's rows, with the column names `kbatch eval --prefix P` would use on its output.
 * Labels are left to the rows (as `kbatch eval` without `--labels`): the join has already matched answers to them.
 * @example const evaluation = runEvaluation({ gold: 'sentiment', prefix: '' }); evaluation.add(row);
 */
export function runEvaluation(options: { gold: string; prefix: string; labels?: readonly string[] }): RunEvaluation {
  const { gold, prefix, labels } = options;
  // The run's labels: gold compared after the normalisation they apply, and a label never seen still has its row.
  return paidRowsEvaluation({ gold, pred: `${prefix}label`, confidence: `${prefix}confidence`, error: `${prefix}error`, ...(labels ? { labels: [...labels] } : {}) });
}

/**
 * An evaluation of rows already paid for and written (a run's, several models'): a row without the gold or the
 * predicted column (a JSON record without it, a malformed row) counts as unscored, and a failure (too many labels)
 * is kept for `result()` rather than stopping the rows being written.
 * @example const evaluation = paidRowsEvaluation({ gold: 'sentiment', pred: 'A.label' }); evaluation.add(row);
 */
export function paidRowsEvaluation(options: EvaluateOptions & { gold: string; pred: string }): RunEvaluation {
  const { gold, pred } = options;
  const acc = evalAccumulator(options);
  let failure: unknown = null;
  return {
    add(row) {
      if (failure !== null) return;
      try {
        acc.add(Object.hasOwn(row, gold) && Object.hasOwn(row, pred) ? row : { [gold]: null, [pred]: null, ...row });
      } catch (err) {
        failure = err;
      }
    },
    result() {
      if (failure !== null) throw failure;
      return acc.result();
    },
  };
}

/**
 * USD per correctly labelled row: the run's cost over its correct labels; null when the cost is not fully known
 * (a price is missing) or nothing was correct — never 0 for an unknown cost.
 */
export function costPerCorrect(spend: Spend, result: EvalResult): number | null {
  if (spend.cost === null || spend.unpriced.length > 0 || result.correct === 0) return null;
  return spend.cost / result.correct;
}

/**
 * Fail before anything is sent when the input has no gold column: a CSV/TSV header without it, or a JSON input whose
 * first record lacks it (EVAL_COLUMN_MISSING, naming the file, the column and the columns it has).
 * @param read - how the run reads its input (only the header or first record is read)
 */
export async function checkGoldColumn(read: Pick<ReadRecordsOptions, 'format' | 'delimiter' | 'encoding'> & { input: string }, gold: string): Promise<void> {
  const file = read.input;
  let header = false;
  const onHeader = (columns: string[], line: number): void => {
    header = true;
    requireColumn(Object.fromEntries(columns.map((c) => [c, ''])), gold, '--gold', { file, record: 0, line });
  };
  const batches = recordBatches({ ...read, onInvalidRecord: 'skip', onHeader });
  try {
    for await (const batch of batches) {
      const first = batch[0];
      if (!header && first !== undefined) requireColumn(first.data, gold, '--gold', { file, record: first.index, line: first.line });
      return;
    }
  } finally {
    await batches.return(undefined);
  }
}

/**
 * The gold column is an input field like any other: it reaches the model only through a template that names it.
 * Said as a warning, not refused: a run may mean to show it (e.g. to ask the model to check the labels).
 */
export function goldInTemplate(templates: readonly unknown[], gold: string): boolean {
  return templates.some((t) => typeof t === 'string' && compileTemplate(t).fields.includes(gold));
}
