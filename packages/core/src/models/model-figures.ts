// Figures of several models' answers side by side: each model against the gold labels, and each pair against each other.
import { paidRowsEvaluation, type RunEvaluation } from '../eval/run-evaluation.js';
import type { EvalResult } from '../eval/eval-result.js';

/** Options of {@link modelFigures} and {@link evaluateModels}. */
export interface ModelFiguresOptions {
  /** The models' field prefixes (without the dot), as in the output's `ALIAS.label` columns. */
  aliases: readonly string[];
  /** The gold label column: each model's accuracy, F1, kappa… against it (omit for the agreement only). */
  gold?: string;
  /** The run's `prefix` of added fields (default none): each model's are `ALIAS.<prefix>label`, `…error`, `…confidence`. */
  prefix?: string;
  /** The predicted field under each model's prefix (default `label`). */
  pred?: string;
  /** The allowed labels: answers compare after the normalisation `--labels` applies. */
  labels?: readonly string[];
}

/** How far two models agree on the rows both answered. */
export interface ModelAgreement {
  a: string;
  b: string;
  /** Cohen's kappa between the two models' labels (eval's, gold = model a); null when it is 0/0. */
  kappa: number | null;
  /** Rows on which they gave the same label, of `scored`. */
  agreement: number | null;
  /** Rows both models answered with a usable label. */
  scored: number;
}

/** Each model's evaluation against gold (when given) and the agreement of every pair. */
export interface ModelFigures {
  /** Per alias: `evaluate()`'s figures against the gold column; absent without `gold`. */
  evaluations?: Record<string, EvalResult>;
  agreement: ModelAgreement[];
}

/** Rows fed one at a time (constant memory: counts per label pair, per model and per pair of models). */
export interface ModelFiguresAccumulator {
  /** Never throws: a row without the gold column counts unscored, a failure is kept for `result()`. */
  add(row: Record<string, unknown>): void;
  /** @throws the first error counting a row hit (e.g. EVAL_TOO_MANY_LABELS) */
  result(): ModelFigures;
}

/**
 * The accumulators of several models' figures, fed by the combined rows (one per record, each model's fields under
 * `ALIAS.`). A pair's agreement is eval's Cohen's kappa with one model as gold, the other as prediction.
 * @example const acc = modelFigures({ aliases: ['a', 'b'], gold: 'sentiment' }); for (const row of rows) acc.add(row);
 */
export function modelFigures(options: ModelFiguresOptions): ModelFiguresAccumulator {
  const prefix = options.prefix ?? '';
  const pred = options.pred ?? 'label';
  const field = (alias: string, name: string): string => `${alias}.${prefix}${name}`;
  const labels = options.labels ? { labels: [...options.labels] } : {};
  const columns = (alias: string) => ({ pred: field(alias, pred), confidence: field(alias, 'confidence'), error: field(alias, 'error'), ...labels });
  const evaluations = options.gold === undefined ? null : options.aliases.map((alias) => [alias, paidRowsEvaluation({ gold: options.gold!, ...columns(alias) })] as const);
  const pairs: Array<{ a: string; b: string; acc: RunEvaluation }> = [];
  options.aliases.forEach((a, i) => {
    for (const b of options.aliases.slice(i + 1)) pairs.push({ a, b, acc: paidRowsEvaluation({ gold: field(a, pred), ...columns(b) }) });
  });
  return {
    add(row) {
      if (evaluations) for (const [, acc] of evaluations) acc.add(row);
      // A row model a did not answer has no "gold" for the pair: unscored there, as eval counts it.
      for (const pair of pairs) pair.acc.add(row);
    },
    result() {
      const agreement = pairs.map(({ a, b, acc }) => {
        const r = acc.result();
        return { a, b, kappa: r.kappa, agreement: r.accuracy, scored: r.scored };
      });
      return evaluations ? { evaluations: Object.fromEntries(evaluations.map(([alias, acc]) => [alias, acc.result()])), agreement } : { agreement };
    },
  };
}

/**
 * Several models' figures over combined output rows (a file's rows, a generator, a stream): each model against the
 * gold column when given, and Cohen's kappa for every pair. Pure and streaming.
 * @example const { evaluations, agreement } = await evaluateModels(rows, { aliases: ['8B', '70B'], gold: 'sentiment' });
 */
export async function evaluateModels(rows: Iterable<Record<string, unknown>> | AsyncIterable<Record<string, unknown>>, options: ModelFiguresOptions): Promise<ModelFigures> {
  const acc = modelFigures(options);
  for await (const row of rows) acc.add(row);
  return acc.result();
}
