// Prices a user gives (`prices`, `--prices FILE`): rows in the built-in table's schema, merged over it.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { PriceRowSchema, priceTable, type PriceRow, type PriceTable } from './prices.js';
import type { PriceOf } from './spend-types.js';

/** A price file: a JSON array of rows, each as the built-in table's (see `PriceRowSchema`: source and date required). */
export const PriceFileSchema = z.array(PriceRowSchema, { error: 'must be a JSON array of price rows' });

/** The keys a price row may have (an unknown one is a typo). */
const ROW_KEYS = Object.keys(PriceRowSchema.shape);

/**
 * The first problem of price rows as messages say it: the row (numbered from 1), the field, and for an unknown key the
 * keys a row may have; null when the rows are valid.
 */
export function priceRowsProblem(rows: unknown): string | null {
  const parsed = PriceFileSchema.safeParse(rows);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  const [row, ...field] = issue.path;
  if (row === undefined) return issue.message;
  const at = `row ${Number(row) + 1}`;
  if (issue.code === 'unrecognized_keys') return `${at}: unknown key ${issue.keys.map((k) => `\`${k}\``).join(', ')} (a row's keys: ${ROW_KEYS.join(', ')})`;
  return `${at}${field.length > 0 ? ` \`${field.join('.')}\`` : ''}: ${issue.message}`;
}

/**
 * The rows of `prices`: a JSON file (path relative to `cwd`) or the rows themselves, each checked by the table's schema.
 * @throws KbatchError OPTION_INVALID naming the file, the row and the field (a row without its source or date is refused)
 * @example const rows = await loadPrices('prices.json', process.cwd());
 */
export async function loadPrices(prices: string | readonly unknown[], cwd: string): Promise<PriceRow[]> {
  const where = typeof prices === 'string' ? resolve(cwd, prices) : null;
  let value: unknown = prices;
  if (where !== null) {
    const text = await readFile(where, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`prices\`: cannot read ${where}: ${err.code ?? err.message}`, { field: 'prices', file: where, cause: err });
    });
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`prices\`: ${where} is not JSON: ${(err as Error).message}`, { field: 'prices', file: where });
    }
  }
  const problem = priceRowsProblem(value);
  if (problem === null) return PriceFileSchema.parse(value);
  throw new KbatchError('OPTION_INVALID', `Invalid option \`prices\`:${where === null ? '' : ` ${where}`} ${problem}`, { field: 'prices', ...(where === null ? {} : { file: where }) });
}

/**
 * The price table a run or an estimate uses: the built-in one with the `prices` rows merged over it; a `priceOf`
 * function (library) answers price lookups instead, when given.
 * @example const table = await resolvePrices({ prices: 'prices.json' }, cwd); table.priceOf({ provider, model, mode: 'batch' });
 */
export async function resolvePrices(options: { prices?: string | readonly unknown[] | undefined; priceOf?: PriceOf | undefined }, cwd: string): Promise<PriceTable> {
  const table = priceTable(options.prices === undefined ? [] : await loadPrices(options.prices, cwd));
  return options.priceOf ? { ...table, priceOf: options.priceOf } : table;
}
