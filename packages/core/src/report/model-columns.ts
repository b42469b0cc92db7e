import type { ModelColumns } from './report-data.js';

/** How to find the models' columns: the run's field prefix, and an explicit prediction column (one model then). */
export interface ColumnOptions {
  /** The prefix given to run/join (e.g. `kb_`): fields `kb_label`, `kb_confidence`, `kb_error`… */
  prefix: string;
  /** The prediction column (default `PREFIXlabel`): given, the output is read as one model's. */
  pred?: string;
}

/**
 * The models of an output row from its columns: one model when the plain label column (or `pred`) is there, else
 * one per `ALIAS.label` column (the several-models convention: each model's fields under `ALIAS.`), in column order.
 * @example modelColumns(['id', 'a.label', 'b.label'], { prefix: '' }).map((m) => m.alias) // ['a', 'b']
 */
export function modelColumns(columns: readonly string[], options: ColumnOptions): ModelColumns[] {
  const label = `${options.prefix}label`;
  if (options.pred !== undefined || columns.includes(label)) return [fields(null, options.prefix, options.pred ?? label)];
  const suffix = `.${label}`;
  const aliases = columns.filter((c) => c.endsWith(suffix) && c.length > suffix.length).map((c) => c.slice(0, -suffix.length));
  // Neither: one model whose missing label column the evaluation reports by name.
  if (aliases.length === 0) return [fields(null, options.prefix, label)];
  return aliases.map((alias) => fields(alias, `${alias}.${options.prefix}`, `${alias}.${label}`));
}

function fields(alias: string | null, prefix: string, pred: string): ModelColumns {
  return {
    alias,
    pred,
    confidence: `${prefix}confidence`,
    error: `${prefix}error`,
    promptTokens: `${prefix}prompt_tokens`,
    completionTokens: `${prefix}completion_tokens`,
  };
}
