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
        out = line(header);
      } else if (shape !== FLAT) warnLate(flat);
      return out + line.of(header, flat);
    },
    // An empty input still gets the declared header, so the file is a valid (empty) table.
    end: () => (header === null && opts.columns.length > 0 ? line(opts.columns) : ''),
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

/** Writes CSV lines: of a list of cells, or `of` a row's cells under `header` (without a list made for them). */
interface CsvLine {
  (cells: readonly unknown[]): string;
  of(header: readonly string[], row: Record<string, unknown>): string;
}

/**
 * One CSV line of cells, quoted as csv-stringify quotes them (a cell holding the quote, the delimiter or a line break,
 * quotes doubled); a value of another type than string, number, bigint or boolean goes through csv-stringify itself.
 */
function csvLine(delimiter: string): CsvLine {
  const csv = { delimiter, cast: { boolean: (v: boolean) => String(v) } };
  const single = delimiter.length === 1;
  const d = single ? delimiter.charCodeAt(0) : -1;
  // A number, bigint or boolean is written with these characters only: another one-character delimiter is never in it.
  const plainScalars = single && !'0123456789.-+eEInfinityNaNtruefals'.includes(delimiter);
  /** A cell's text, or null for a value of another type (the line then goes through csv-stringify). */
  const text = (v: unknown): string | null => {
    if (typeof v === 'string') {
      if (!single) return quoted(v, emitsSeparator(v, delimiter));
      const look = scanCell(v, d);
      return look === PLAIN ? v : look === QUOTES ? `"${v.replaceAll('"', '""')}"` : `"${v}"`;
    }
    if (v === null || v === undefined) return '';
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') {
      const t = String(v);
      return plainScalars ? t : quoted(t, single ? t.includes(delimiter) : emitsSeparator(t, delimiter));
    }
    return null;
  };
  // The texts of a line's cells, joined at once (the line end with the last): one string a line, where adding them one
  // by one made two a cell.
  const texts: string[] = [];
  const joined = (n: number): string => {
    texts[n - 1] += '\n';
    return texts.join(delimiter);
  };
  const line = (cells: readonly unknown[]): string => {
    texts.length = cells.length;
    for (let i = 0; i < cells.length; i++) {
      const t = text(cells[i]);
      if (t === null) return stringify([cells], csv);
      texts[i] = t;
    }
    return cells.length === 0 ? '\n' : joined(cells.length);
  };
  // A row's cells read from it one by one: the list of them is made only for a line csv-stringify writes.
  line.of = (header: readonly string[], row: Record<string, unknown>): string => {
    texts.length = header.length;
    for (let i = 0; i < header.length; i++) {
      const t = text(cell(row[header[i]!]));
      if (t === null) return line(header.map((h) => cell(row[h])));
      texts[i] = t;
    }
    return header.length === 0 ? '\n' : joined(header.length);
  };
  return line;
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
