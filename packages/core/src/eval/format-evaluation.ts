import type { EvalFigures, EvalResult } from './eval-result.js';

/**
 * The evaluation as readable text: counts, accuracy, macro-F1 and kappa, a per-label table, the confusion matrix
 * (rows gold, columns predicted) and, with confidences, calibration, accuracy at coverage and the target threshold.
 * @example process.stdout.write(formatEvaluation(await evaluate(rows, { gold: 'sentiment' })))
 */
export function formatEvaluation(result: EvalResult): string {
  const parts = [`gold column "${result.gold}", predictions in "${result.pred}"`, figuresText(result)];
  if (result.by !== undefined) {
    for (const [value, group] of Object.entries(result.by.groups)) parts.push(`== ${result.by.column} = ${JSON.stringify(value)}\n${figuresText(group)}`);
  }
  return `${parts.join('\n\n')}\n`;
}

/** Most labels for which the run summary shows the confusion matrix (a wider one does not read on a terminal). */
export const BRIEF_CONFUSION_LABELS = 10;

/**
 * The short evaluation block of a run summary (`kbatch run --gold`): the headline figures, scored/unscored, the cost
 * per correct label, and the confusion matrix when there are at most {@link BRIEF_CONFUSION_LABELS} labels.
 * @param costPerCorrect - USD, or null when the cost is unknown
 */
export function formatEvaluationBrief(f: EvalResult, costPerCorrect: number | null): string[] {
  const reasons = Object.entries(f.unscored_by_reason).filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`);
  const lines = [
    `eval against gold "${f.gold}": accuracy ${num(f.accuracy)} (${f.correct}/${f.scored})  macro-F1 ${num(f.macro_f1)}  kappa ${num(f.kappa)}`,
    `  ${f.scored} scored, ${f.unscored} unscored${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}; cost per correct label ${costPerCorrect === null ? 'unknown' : `$${costPerCorrect.toPrecision(3)}`}`,
  ];
  if (f.labels.length > 0 && f.labels.length <= BRIEF_CONFUSION_LABELS) {
    const matrix = table(['gold \\ pred', ...f.labels], f.labels.map((g) => [g, ...f.labels.map((p) => String(f.confusion[g]![p]))]));
    lines.push(...matrix.split('\n').map((line) => `  ${line}`));
  }
  return lines;
}

function figuresText(f: EvalFigures): string {
  const reasons = Object.entries(f.unscored_by_reason).filter(([, n]) => n > 0).map(([reason, n]) => `${n} ${reason}`);
  const lines = [
    `rows ${f.n}: ${f.scored} scored, ${f.unscored} unscored${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`,
    `accuracy ${num(f.accuracy)} (${f.correct}/${f.scored})  macro-F1 ${num(f.macro_f1)}  kappa ${num(f.kappa)}`,
  ];
  if (f.labels.length > 0) {
    lines.push('', table(['label', 'precision', 'recall', 'f1', 'support'], f.labels.map((l) => {
      const p = f.per_label[l]!;
      return [l, num(p.precision), num(p.recall), num(p.f1), String(p.support)];
    })));
    lines.push('', 'confusion (rows: gold, columns: predicted)');
    lines.push(table(['gold \\ pred', ...f.labels], f.labels.map((g) => [g, ...f.labels.map((p) => String(f.confusion[g]![p]))])));
  }
  if (f.calibration !== undefined) {
    lines.push('', `calibration over ${f.calibration.n} rows with a confidence: ECE ${num(f.calibration.ece)}`);
    const bins = f.calibration.bins.filter((b) => b.count > 0);
    lines.push(table(['confidence', 'rows', 'accuracy', 'mean conf'], bins.map((b) => [`${b.lower.toFixed(1)}-${b.upper.toFixed(1)}`, String(b.count), num(b.accuracy), num(b.mean_confidence)])));
  }
  if (f.coverage !== undefined) {
    lines.push('', 'accuracy at coverage (most confident rows first)');
    lines.push(table(['coverage', 'threshold', 'rows', 'accuracy'], f.coverage.map((c) => [`${Math.round(c.coverage * 100)}%`, c.threshold.toFixed(3), String(c.answered), num(c.accuracy)])));
  }
  if (f.target !== undefined) {
    const t = f.target;
    lines.push(
      '',
      t.not_computed !== undefined
        ? `target accuracy ${t.target_accuracy}: not computed (${t.not_computed})`
        : t.threshold === null
        ? `target accuracy ${t.target_accuracy}: not reached at any confidence threshold`
        : `target accuracy ${t.target_accuracy}: confidence >= ${t.threshold.toFixed(3)} answers ${t.answered} rows (${pct(t.coverage)}) at accuracy ${num(t.accuracy)}`,
    );
  }
  return lines.join('\n');
}

function num(x: number | null): string {
  return x === null ? '-' : x.toFixed(3);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

// Left-aligned first column, right-aligned numbers, two spaces between columns.
function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
