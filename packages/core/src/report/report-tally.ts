import { evalAccumulator, type EvalAccumulator } from '../eval/eval-accumulator.js';
import { cellText, labelMatcher, type LabelMatcher, type RowPlace } from '../eval/row-verdict.js';
import { cleanLabelAnswer, normalizeLabels } from '../answers/labels.js';
import { setOwn } from '../eval/label-counts.js';
import { isKbatchError, KbatchError } from '../errors.js';
import { failureGroups } from './failure-groups.js';
import { modelColumns, type ColumnOptions } from './model-columns.js';
import { CONFIDENCE_BINS, type Agreement, type ModelColumns, type ReportModel, type ReportData } from './report-data.js';

/** What the row pass needs: the gold column (none: no evaluation), labels, and where the models' columns are. */
export interface ReportTallyOptions extends ColumnOptions {
  gold?: string;
  labels?: string[];
  targetAccuracy?: number;
  /** The column naming a row in failure examples (default: the model's `custom_id` field, else `PREFIXcustom_id`; without one, "row N"). */
  id?: string;
}

/** The rows' figures: what {@link reportTally} gives. */
export type RowFigures = Pick<ReportData, 'rows' | 'goldLabels' | 'models' | 'agreement' | 'failures' | 'otherFailures'>;

/** Rows fed one at a time, figures on demand; memory: counts per label, bin and cause, never rows. */
export interface ReportTally {
  add(row: Record<string, unknown>, place: RowPlace): void;
  result(): RowFigures;
}

// One model's running counts; `eval` is evaluate()'s accumulator, so its figures are eval --json's.
interface ModelTally {
  columns: ModelColumns;
  figures: Omit<ReportModel, 'eval' | 'predicted'>;
  /** Rows per predicted label (a Map: a label may be any text, `__proto__` too). */
  predicted: Map<string, number>;
  eval: EvalAccumulator | null;
}

/**
 * The report's pure core: every row counted once for each model (label distribution, confidence, tokens, failures),
 * by `evaluate()`'s accumulator against gold, and by one accumulator per pair of models for their agreement.
 * The models are found from the first row's columns (see {@link modelColumns}).
 */
export function reportTally(options: ReportTallyOptions): ReportTally {
  const match: LabelMatcher = labelMatcher(options.labels);
  const failures = failureGroups();
  let models: ModelTally[] | null = null;
  let pairs: { a: ModelTally; b: ModelTally; acc: EvalAccumulator; overflow: boolean }[] = [];
  const gold = options.gold === undefined ? null : listedLabels(options.labels);
  let rows = 0;
  return {
    add(row, place) {
      if (models === null) {
        models = modelColumns(Object.keys(row), options).map((columns) => modelTally(columns, options));
        checkNotGold(models, options);
        pairs = models.flatMap((a, i) => models!.slice(i + 1).map((b) => ({ a, b, acc: agreementAccumulator(a.columns, b.columns, options.labels), overflow: false })));
      }
      // evaluate() first: a row it rejects (a missing column, a bad confidence) fails the report as it fails eval.
      for (const m of models) m.eval?.add(row, place);
      for (const p of pairs) if (!p.overflow) p.overflow = addAgreement(p.acc, row, place);
      rows++;
      if (gold !== null) countGold(gold, cellText(row[options.gold!]), { match, place });
      for (const m of models) {
        const id = () => rowId(row, m.columns, options) || `row ${place.record}`;
        countRow(m, row, { match, place, onFailure: (error) => failures.add(m.columns.alias, id(), error) });
      }
    },
    result() {
      const agreement: Agreement[] = pairs.map(({ a, b, acc, overflow }) => {
        if (overflow) return { a: a.columns.alias ?? '', b: b.columns.alias ?? '', n: 0, agreement: null, kappa: null };
        const r = acc.result();
        return { a: a.columns.alias ?? '', b: b.columns.alias ?? '', n: r.scored, agreement: r.accuracy, kappa: r.kappa };
      });
      const figures = (models ?? []).map((m) => ({ ...m.figures, predicted: ownRecord(m.predicted), eval: m.eval?.result() ?? null }));
      return { rows, goldLabels: gold === null ? null : ownRecord(gold), models: figures, agreement, ...failures.result() };
    },
  };
}

// Listed labels first, at 0 when never seen (a label that never occurs still has its bar).
function listedLabels(labels: string[] | undefined): Map<string, number> {
  return new Map((labels === undefined ? [] : normalizeLabels(labels)).map((label) => [label, 0]));
}

// A model scored against its own answers would be perfect: refuse it (a gold column named `label` needs --pred or ALIAS. columns).
function checkNotGold(models: ModelTally[], options: ReportTallyOptions): void {
  const same = models.find((m) => m.columns.pred === options.gold);
  if (same === undefined) return;
  const field = options.pred !== undefined ? 'pred' : 'gold';
  throw new KbatchError('OPTION_INVALID', `Invalid option \`${field}\`: the prediction column must not be the gold column, got "${same.columns.pred}" for both (give the prediction column with pred)`, { field });
}

// The row's id as the join wrote it: the given id column, else the model's custom_id field, else the plain one.
function rowId(row: Record<string, unknown>, columns: ModelColumns, options: ReportTallyOptions): string {
  if (options.id !== undefined) return cellText(row[options.id]);
  return cellText(row[columns.customId]) || cellText(row[`${options.prefix}custom_id`]) || cellText(row['custom_id']);
}

// The gold labels of every row with one, normalised as the evaluation normalises them.
function countGold(counts: Map<string, number>, text: string, { match, place }: Omit<CountContext, 'onFailure'>): void {
  if (cleanLabelAnswer(text) === '') return;
  const label = labelOf(match, text, place);
  if (label !== null) counts.set(label, (counts.get(label) ?? 0) + 1);
}

function modelTally(columns: ModelColumns, options: ReportTallyOptions): ModelTally {
  const predicted = listedLabels(options.labels);
  const evalOf =
    options.gold === undefined
      ? null
      : evalAccumulator({ gold: options.gold, pred: columns.pred, confidence: columns.confidence, error: columns.error, labels: options.labels, targetAccuracy: options.targetAccuracy });
  return {
    columns,
    eval: evalOf,
    predicted,
    figures: { alias: columns.alias, pred: columns.pred, unpredicted: { failed: 0, empty: 0, not_a_label: 0 }, confidence: new Array<number>(CONFIDENCE_BINS).fill(0), tokens: { prompt: 0, completion: 0 } },
  };
}

// Model B judged against model A as if A were gold: the agreement is the accuracy, and kappa is Cohen's between them.
function agreementAccumulator(a: ModelColumns, b: ModelColumns, labels: string[] | undefined): EvalAccumulator {
  return evalAccumulator({ gold: a.pred, pred: b.pred, error: b.error, confidence: b.confidence, labels });
}

// Free-text answers (over 1,000 distinct, no `labels`) have no agreement to give: true once the pair is given up.
function addAgreement(acc: EvalAccumulator, row: Record<string, unknown>, place: RowPlace): boolean {
  try {
    acc.add(row, place);
    return false;
  } catch (err) {
    if (isKbatchError(err) && err.code === 'EVAL_TOO_MANY_LABELS') return true;
    throw err;
  }
}

interface CountContext {
  match: LabelMatcher;
  place: RowPlace;
  onFailure: (error: string) => void;
}

function countRow(m: ModelTally, row: Record<string, unknown>, { match, place, onFailure }: CountContext): void {
  const f = m.figures;
  f.tokens.prompt += tokenCount(row[m.columns.promptTokens]);
  f.tokens.completion += tokenCount(row[m.columns.completionTokens]);
  const error = cellText(row[m.columns.error]);
  if (error !== '') {
    f.unpredicted.failed++;
    onFailure(error);
    return;
  }
  const text = cellText(row[m.columns.pred]);
  if (cleanLabelAnswer(text) === '') {
    f.unpredicted.empty++;
    return;
  }
  const label = labelOf(match, text, place);
  if (label === null) {
    f.unpredicted.not_a_label++;
    return;
  }
  m.predicted.set(label, (m.predicted.get(label) ?? 0) + 1);
  const confidence = confidenceOf(row[m.columns.confidence]);
  if (confidence !== null) f.confidence[Math.min(CONFIDENCE_BINS - 1, Math.floor(confidence * CONFIDENCE_BINS))]!++;
}

// Past the distinct-label cap (no `labels` list) the evaluation has already failed; without gold, count the rest as not a label.
function labelOf(match: LabelMatcher, text: string, place: RowPlace): string | null {
  try {
    return match(text, place);
  } catch (err) {
    if (isKbatchError(err) && err.code === 'EVAL_TOO_MANY_LABELS') return null;
    throw err;
  }
}

function tokenCount(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : 0;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

// A confidence in [0, 1], else none (the evaluation, with gold, already rejected a bad one as eval does).
function confidenceOf(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : null;
}

function ownRecord(counts: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, count] of counts) setOwn(out, label, count);
  return out;
}
