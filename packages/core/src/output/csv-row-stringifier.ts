import type { Transform } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { functionField, parseOptions } from '../options.js';
import { flattenRow } from './flatten-row.js';
import { formatStream, type RowFormat } from './row-format.js';

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
 * Objects in, CSV out (RFC 4180 quoting as csv-stringify does it, `\n` line ends). Nested objects become
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
  return formatStream(csvRowFormat(options));
}

/** The {@link RowFormat} behind {@link csvRowStringifier} (same options). */
export function csvRowFormat(options: CsvRowStringifierOptions = {}): RowFormat {
  const opts = parseOptions(CsvRowStringifierOptionsSchema, options, 'csvRowStringifier');
  const keepWhole = new Set(opts.keepWhole);
  const warned = new Set<string>();
  const line = csvLine(opts.delimiter);
  let header: string[] | null = null;
  let known: Set<string> | undefined;
  let cells: unknown[] = [];
  const warnLate = (flat: Record<string, unknown>): void => {
    for (const key in flat) {
      if (known!.has(key) || warned.has(key) || !Object.hasOwn(flat, key)) continue;
      const v = flat[key];
      if (v === null || v === undefined || v === '') continue;
      warned.add(key);
      opts.onWarning?.(`column "${key}" first appears after the CSV header was written; its values are dropped (declare it, or write JSON Lines)`);
    }
  };
  return {
    row(row) {
      const shape = shapeOf(row, known);
      const flat = shape === NESTED ? flattenRow(row, keepWhole) : row;
      let out = '';
      if (header === null) {
        header = mergeHeader(flat, opts.columns);
        known = new Set(header);
        out = line([...header]);
      } else if (shape !== FLAT) warnLate(flat);
      // One array for every row (the cells are quoted in place): a row allocates its text, not a list besides.
      if (cells.length !== header.length) cells = new Array<unknown>(header.length);
      for (let i = 0; i < header.length; i++) cells[i] = cell(flat[header[i]!]);
      return out + line(cells);
    },
    // An empty input still gets the declared header, so the file is a valid (empty) table.
    end: () => (header === null && opts.columns.length > 0 ? line([...opts.columns]) : ''),
  };
}

/** {@link shapeOf}: flattening would copy the row unchanged, and every key is a known column. */
const FLAT = 0;
/** Flat, with a key that is not a known column (or no columns known yet). */
const FLAT_NEW = 1;
/** To be flattened: a nested object, or a `__proto__` key (which the copy drops). */
const NESTED = 2;

/** Whether `row` must be flattened, and else whether it has a key beyond the `known` columns, in one pass over its keys. */
function shapeOf(row: Record<string, unknown>, known: ReadonlySet<string> | undefined): number {
  let shape = known === undefined ? FLAT_NEW : FLAT;
  for (const key in row) {
    const v = row[key];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return NESTED;
    if (shape === FLAT && !known!.has(key)) shape = FLAT_NEW;
  }
  return !Object.hasOwn(row, '__proto__') && Object.getPrototypeOf(row) === Object.prototype ? shape : NESTED;
}

/**
 * One CSV line of cells, quoted as csv-stringify quotes them (a cell holding the quote, the delimiter or a line break,
 * quotes doubled); a value of another type than string, number, bigint or boolean goes through csv-stringify itself.
 * `cells` is used up: a cell to quote is replaced by its quoted text, and the line is one `join` (a flat string, not
 * a chain of a string per cell: the join's rows are its largest share of garbage).
 */
function csvLine(delimiter: string): (cells: unknown[]) => string {
  const csv = { delimiter, cast: { boolean: (v: boolean) => String(v) } };
  const single = delimiter.length === 1;
  const d = single ? delimiter.charCodeAt(0) : -1;
  // A number, bigint or boolean is written with these characters only: another one-character delimiter is never in it.
  const plainScalars = single && !'0123456789.-+eEInfinityNaNtruefals'.includes(delimiter);
  return (cells) => {
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i];
      if (typeof v === 'string') continue;
      // null and undefined are empty cells, as `join` writes them; numbers, bigints and booleans as `String` does.
      if (v === null || v === undefined) continue;
      if (typeof v !== 'number' && typeof v !== 'bigint' && typeof v !== 'boolean') return stringify([cells], csv);
    }
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i];
      if (typeof v === 'string') {
        if (!single) cells[i] = quoted(v, emitsSeparator(v, delimiter));
        else {
          const look = scanCell(v, d);
          if (look !== PLAIN) cells[i] = look === QUOTES ? `"${v.replaceAll('"', '""')}"` : `"${v}"`;
        }
      } else if (v !== null && v !== undefined && !plainScalars) {
        const t = String(v);
        cells[i] = quoted(t, single ? t.includes(delimiter) : emitsSeparator(t, delimiter));
      }
    }
    return `${cells.join(delimiter)}\n`;
  };
}

/**
 * A cell as csv-stringify writes it: quotes doubled when it holds one, in quotes when it holds one, a line break or
 * (`separated`) the delimiter.
 */
function quoted(s: string, separated: boolean): string {
  if (s.includes('"')) return `"${s.replaceAll('"', '""')}"`;
  return separated || s.includes('\n') || s.includes('\r') ? `"${s}"` : s;
}

const PLAIN = 0;
const ENCLOSE = 1;
const QUOTES = 2;

/** What a cell needs, in one pass: QUOTES (it holds a quote), ENCLOSE (a line break or the delimiter `d`), or PLAIN. */
function scanCell(s: string, d: number): number {
  let look = PLAIN;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x22) return QUOTES;
    if (c === 0x0a || c === 0x0d || c === d) look = ENCLOSE;
  }
  return look;
}

/** csv-stringify's test for a multi-character delimiter: the cell holds it, or its end would fuse with it. */
function emitsSeparator(value: string, separator: string): boolean {
  return value.includes(separator) || (value + separator).indexOf(separator) < value.length;
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
