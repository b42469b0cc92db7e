import { Transform } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { functionField, parseOptions } from '../options.js';
import { flattenRow } from './flatten-row.js';

/** Options of {@link csvRowStringifier}. */
export const CsvRowStringifierOptionsSchema = z.object({
  /** Columns known up front (e.g. the join's added fields and schema leaf paths), merged into the header. */
  columns: z.array(z.string(), { error: 'must be a list of column names' }).default([]),
  /** Columns written whole as JSON instead of flattened (e.g. the raw response body). */
  keepWhole: z.array(z.string(), { error: 'must be a list of column names' }).default([]),
  delimiter: z.string().min(1, { error: 'must be a non-empty string' }).default(','),
  /** Called once per column that appears after the header was written (its values are dropped). */
  onWarning: functionField<(message: string) => void>().optional(),
});
export type CsvRowStringifierOptions = z.input<typeof CsvRowStringifierOptionsSchema>;

/**
 * Objects in, CSV out (RFC 4180 quoting via csv-stringify, `\n` line ends). Nested objects become
 * `a.b` columns, arrays are JSON in one cell, null is an empty cell, booleans are `true`/`false`.
 *
 * The header is fixed by the first row plus the declared `columns` (a declared `a.b` replaces a
 * first-row `a` that was null). A column that first appears later cannot be added to a header
 * already written: if it holds data, `onWarning` is called once for it and its values are dropped
 * (declare it in `columns`, or use JSON Lines for records of varying shape); if it is only ever
 * null/empty it is dropped silently, since nothing is lost.
 * @example await pipeline(rows, csvRowStringifier({ columns: ['label'] }), createWriteStream('out.csv'));
 */
export function csvRowStringifier(options: CsvRowStringifierOptions = {}): Transform {
  const opts = parseOptions(CsvRowStringifierOptionsSchema, options, 'csvRowStringifier');
  const keepWhole = new Set(opts.keepWhole);
  const warned = new Set<string>();
  const csv = { delimiter: opts.delimiter, cast: { boolean: (v: boolean) => String(v) } };
  let header: string[] | null = null;
  let known: Set<string>;
  return new Transform({
    writableObjectMode: true,
    transform(row: Record<string, unknown>, _enc, callback) {
      try {
        const flat = flattenRow(row, keepWhole);
        let out = '';
        if (header === null) {
          header = mergeHeader(flat, opts.columns);
          known = new Set(header);
          out = stringify([header], csv);
        }
        for (const key of Object.keys(flat)) {
          if (known.has(key) || warned.has(key)) continue;
          const v = flat[key];
          if (v === null || v === undefined || v === '') continue;
          warned.add(key);
          opts.onWarning?.(`column "${key}" first appears after the CSV header was written; its values are dropped (declare it, or write JSON Lines)`);
        }
        callback(null, out + stringify([header.map((c) => cell(flat[c]))], csv));
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback) {
      // An empty input still gets the declared header, so the file is a valid (empty) table.
      callback(null, header === null && opts.columns.length > 0 ? stringify([opts.columns], csv) : '');
    },
  });
}

function cell(v: unknown): unknown {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : v;
}

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'object' && Object.keys(v).length === 0);
}

function mergeHeader(first: Record<string, unknown>, declared: readonly string[]): string[] {
  const header: string[] = [];
  const seen = new Set<string>();
  const add = (c: string): void => {
    if (!seen.has(c)) {
      seen.add(c);
      header.push(c);
    }
  };
  for (const key of Object.keys(first)) {
    const children = declared.filter((d) => d.startsWith(`${key}.`));
    if (children.length > 0 && isEmpty(first[key])) children.forEach(add);
    else add(key);
  }
  declared.forEach(add);
  return header;
}
