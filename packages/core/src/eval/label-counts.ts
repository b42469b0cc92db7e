import type { EvalFigures, LabelFigures } from './eval-result.js';

/** Counts per gold × predicted label pair: all a confusion matrix, per-label figures and kappa need. */
export interface LabelCounts {
  scored: number;
  correct: number;
  /** gold → predicted → count */
  pairs: Map<string, Map<string, number>>;
  goldTotals: Map<string, number>;
  predTotals: Map<string, number>;
}

/** An empty tally. */
export function labelCounts(): LabelCounts {
  return { scored: 0, correct: 0, pairs: new Map(), goldTotals: new Map(), predTotals: new Map() };
}

/** Count one scored row. */
export function countPair(counts: LabelCounts, gold: string, pred: string): void {
  counts.scored++;
  if (gold === pred) counts.correct++;
  let row = counts.pairs.get(gold);
  if (row === undefined) counts.pairs.set(gold, (row = new Map()));
  row.set(pred, (row.get(pred) ?? 0) + 1);
  counts.goldTotals.set(gold, (counts.goldTotals.get(gold) ?? 0) + 1);
  counts.predTotals.set(pred, (counts.predTotals.get(pred) ?? 0) + 1);
}

/** The labels to report: `listed` (the `labels` option) first, then every other label seen, sorted. */
export function orderLabels(counts: LabelCounts, listed: readonly string[]): string[] {
  const listedSet = new Set(listed);
  const others = new Set<string>();
  for (const label of [...counts.goldTotals.keys(), ...counts.predTotals.keys()]) if (!listedSet.has(label)) others.add(label);
  return [...listed, ...[...others].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
}

type LabelFiguresPart = Pick<EvalFigures, 'accuracy' | 'macro_f1' | 'kappa' | 'per_label' | 'confusion'>;

/**
 * Accuracy, per-label precision/recall/F1/support, macro-F1, Cohen's kappa and the dense confusion matrix over `labels`.
 * A 0/0 ratio is 0 (scikit-learn's `zero_division=0`), so a label that never occurs has precision, recall and F1 0
 * and, when listed in `labels`, still counts in macro-F1 (as `f1_score(labels=…, average='macro')` does).
 */
export function labelFigures(counts: LabelCounts, labels: readonly string[]): LabelFiguresPart {
  const per_label: Record<string, LabelFigures> = {};
  const confusion: Record<string, Record<string, number>> = {};
  let f1Sum = 0;
  for (const label of labels) {
    const tp = counts.pairs.get(label)?.get(label) ?? 0;
    const support = counts.goldTotals.get(label) ?? 0;
    const predicted = counts.predTotals.get(label) ?? 0;
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    // 2·tp / (2·tp + fp + fn), which equals 2PR/(P+R) and is 0 when both are 0.
    const f1 = ratio(2 * tp, support + predicted);
    setOwn(per_label, label, { precision, recall, f1, support });
    f1Sum += f1;
    const row: Record<string, number> = {};
    for (const pred of labels) setOwn(row, pred, counts.pairs.get(label)?.get(pred) ?? 0);
    setOwn(confusion, label, row);
  }
  return {
    accuracy: counts.scored === 0 ? null : counts.correct / counts.scored,
    macro_f1: labels.length === 0 ? null : f1Sum / labels.length,
    kappa: cohenKappa(counts),
    per_label,
    confusion,
  };
}

/**
 * Cohen's kappa: (po − pe) / (1 − pe), po the observed agreement, pe = Σ gold_k · pred_k / n² the agreement by chance.
 * null when 1 − pe is 0 (both sides use one and the same label) or nothing was scored (scikit-learn gives NaN there).
 */
export function cohenKappa(counts: LabelCounts): number | null {
  const n = counts.scored;
  if (n === 0) return null;
  let chance = 0;
  for (const [label, gold] of counts.goldTotals) chance += gold * (counts.predTotals.get(label) ?? 0);
  const pe = chance / (n * n);
  const po = counts.correct / n;
  return pe === 1 ? null : (po - pe) / (1 - pe);
}

function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/** `record[key] = value` as an own property even for "__proto__" (a label or group is any text). */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
