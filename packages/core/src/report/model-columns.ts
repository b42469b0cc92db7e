import type { ModelColumns } from './report-data.js';

/** How to find the models' columns: the run's field prefix, and an explicit prediction column (one model then). */
export interface ColumnOptions {
  /** The prefix given to run/join (e.g. `kb_`): fields `kb_label`, `kb_confidence`, `kb_error`… */
  prefix: string;
  /** The prediction column (default `PREFIXlabel`): given, the output is read as one model's. */
  pred?: string;
}

/**
 * The models of an output row from its columns: given `pred`, one model; else one per `ALIAS.PREFIXlabel` column
 * (the several-models convention: each model's fields under `ALIAS.`), in column order, even beside a plain label
 * column (a gold column may be named `label`); else one model on the plain label column.
 * @example modelColumns(['id', 'a.label', 'b.label'], { prefix: '' }).map((m) => m.alias) // ['a', 'b']
 */
export function modelColumns(columns: readonly string[], options: ColumnOptions): ModelColumns[] {
  const label = `${options.prefix}label`;
  if (options.pred !== undefined) return [fields(null, options.prefix, options.pred)];
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
    customId: `${prefix}custom_id`,
    promptTokens: `${prefix}prompt_tokens`,
    completionTokens: `${prefix}completion_tokens`,
  };
}
