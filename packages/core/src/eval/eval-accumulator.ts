import { normalizeLabels } from '../answers/labels.js';
import { parseOptions } from '../options.js';
import { accuracyAtCoverage, calibration, confidenceHistogram, countConfidence, targetThreshold, type ConfidenceHistogram } from './confidence-histogram.js';
import { EvaluateOptionsSchema, type EvaluateOptions, type ResolvedEvaluateOptions } from './eval-options.js';
import { UNSCORED_REASONS, type EvalFigures, type EvalResult, type UnscoredReason } from './eval-result.js';
import { countPair, labelCounts, labelFigures, orderLabels, setOwn, type LabelCounts } from './label-counts.js';
import { KbatchError } from '../errors.js';
import { cellText, judgeRow, labelMatcher, where, type LabelMatcher, type RowPlace, type RowVerdict } from './row-verdict.js';

/** Most distinct `by` values: each keeps its own counts, and more means an id column rather than a category. */
export const MAX_GROUPS = 1000;

/** Rows fed one at a time; the figures on demand. Memory: counts per label pair and per `by` value, never rows. */
export interface EvalAccumulator {
  /**
   * Count one output row and say how it counted (the CLI writes the `correct: false` ones to --disagreements).
   * @param place - where the row came from, for error messages (default: the next record number)
   */
  add(row: Record<string, unknown>, place?: RowPlace): RowVerdict;
  /** The figures of the rows added so far (call again after more rows: nothing is consumed). */
  result(): EvalResult;
}

// One set of counts: the whole output, or one `by` group.
interface Tally {
  n: number;
  unscored: Record<UnscoredReason, number>;
  counts: LabelCounts;
  /** Created at the first scored row with a confidence (sparse: a cell per distinct confidence). */
  histogram: ConfidenceHistogram | null;
}

/**
 * The evaluation's pure core: judge each row against its gold label and count it, overall and per `by` value.
 * @example
 * const acc = evalAccumulator({ gold: 'sentiment', labels: ['positive', 'negative'] });
 * for (const row of rows) acc.add(row);
 * acc.result().accuracy;
 */
export function evalAccumulator(options: EvaluateOptions): EvalAccumulator {
  const opts = parseOptions(EvaluateOptionsSchema, options, 'evaluate');
  const listed = opts.labels === undefined ? [] : normalizeLabels(opts.labels);
  const match: LabelMatcher = labelMatcher(opts.labels);
  const total = tally();
  const groups = new Map<string, Tally>();
  let record = 0;
  return {
    add(row, place) {
      record++;
      const at = place ?? { record };
      // Everything that can throw runs before anything is counted: a rejected row leaves no trace.
      const verdict = judgeRow(row, opts, match, at);
      let group: Tally | undefined;
      if (opts.by !== undefined) {
        const key = cellText(row[opts.by]);
        group = groups.get(key);
        if (group === undefined) {
          if (groups.size === MAX_GROUPS) {
            throw new KbatchError('EVAL_TOO_MANY_GROUPS', `${where(at)}: more than ${MAX_GROUPS} distinct values in the --by column "${opts.by}"; is it a category?`, { ...at, field: opts.by });
          }
          groups.set(key, (group = tally()));
        }
      }
      count(total, verdict);
      if (group !== undefined) count(group, verdict);
      return verdict;
    },
    result() {
      const result: EvalResult = { gold: opts.gold, pred: opts.pred, ...figures(total, listed, opts) };
      if (opts.by !== undefined) {
        const byGroup: Record<string, EvalFigures> = {};
        for (const key of [...groups.keys()].sort()) setOwn(byGroup, key, figures(groups.get(key)!, listed, opts));
        result.by = { column: opts.by, groups: byGroup };
      }
      return result;
    },
  };
}

function tally(): Tally {
  const unscored = Object.fromEntries(UNSCORED_REASONS.map((reason) => [reason, 0])) as Record<UnscoredReason, number>;
  return { n: 0, unscored, counts: labelCounts(), histogram: null };
}

function count(t: Tally, verdict: RowVerdict): void {
  t.n++;
  if (!verdict.scored) {
    t.unscored[verdict.reason]++;
    return;
  }
  countPair(t.counts, verdict.gold, verdict.pred);
  if (verdict.confidence !== null) countConfidence((t.histogram ??= confidenceHistogram()), verdict.confidence, verdict.correct);
}

function figures(t: Tally, listed: readonly string[], opts: ResolvedEvaluateOptions): EvalFigures {
  const labels = orderLabels(t.counts, listed);
  const out: EvalFigures = {
    n: t.n,
    scored: t.counts.scored,
    unscored: t.n - t.counts.scored,
    unscored_by_reason: { ...t.unscored },
    correct: t.counts.correct,
    ...labelFigures(t.counts, labels),
    labels,
  };
  if (t.histogram !== null) {
    out.calibration = calibration(t.histogram);
    out.coverage = accuracyAtCoverage(t.histogram);
    if (opts.targetAccuracy !== undefined) out.target = targetThreshold(t.histogram, opts.targetAccuracy);
  } else if (opts.targetAccuracy !== undefined) {
    out.target = { target_accuracy: opts.targetAccuracy, threshold: null, answered: 0, coverage: 0, accuracy: null, not_computed: 'no scored row has a confidence' };
  }
  return out;
}
