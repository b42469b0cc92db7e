/**
 * Flatten nested objects to `a.b` keys for CSV. Arrays stay whole (one cell, written as JSON), as do
 * the keys listed in `keepWhole` (e.g. the raw response body).
 * @example flattenRow({ a: { b: 1 }, c: [1, 2] }) // { 'a.b': 1, c: [1, 2] }
 */
export function flattenRow(row: Record<string, unknown>, keepWhole: ReadonlySet<string> = EMPTY): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  walk(row, '', out, keepWhole);
  return out;
}

const EMPTY: ReadonlySet<string> = new Set();

function walk(value: Record<string, unknown>, prefix: string, out: Record<string, unknown>, keepWhole: ReadonlySet<string>): void {
  for (const key of Object.keys(value)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const v = value[key];
    if (isPlainObject(v) && !keepWhole.has(path) && Object.keys(v).length > 0) walk(v, path, out, keepWhole);
    else out[path] = v;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
