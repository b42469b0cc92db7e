import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { csvRowStringifier } from '../../src/output/csv-row-stringifier.js';
import { flattenRow } from '../../src/output/flatten-row.js';
import { jsonArrayStringifier } from '../../src/output/json-array-stringifier.js';
import { resolveOutputFormat } from '../../src/output/output-format.js';
import { outputStream } from '../../src/output/output-stream.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { fromArray, run } from '../helpers/streams.js';

const tricky = [
  { id: '1', text: 'comma, "quotes" and\nnewline', n: 3, ok: true, none: null, meta: { lang: 'en', deep: { x: 1 } }, tags: ['a', 'b'] },
  { id: '2', text: '  spaces  ', n: 0.5, ok: false, none: null, meta: { lang: 'fr', deep: { x: 2 } }, tags: [] },
];

async function text(stream: NodeJS.ReadWriteStream, rows: unknown[]): Promise<string> {
  return (await run<Buffer | string>(fromArray(rows), stream)).map(String).join('');
}

describe('csvRowStringifier', () => {
  it('round-trips through csv-parse with flattened columns and RFC 4180 quoting', async () => {
    const csv = await text(csvRowStringifier(), tricky);
    const parsed = parse(csv, { columns: true }) as Record<string, string>[];
    expect(Object.keys(parsed[0]!)).toEqual(['id', 'text', 'n', 'ok', 'none', 'meta.lang', 'meta.deep.x', 'tags']);
    expect(parsed[0]).toEqual({ id: '1', text: 'comma, "quotes" and\nnewline', n: '3', ok: 'true', none: '', 'meta.lang': 'en', 'meta.deep.x': '1', tags: '["a","b"]' });
    expect(parsed[1]).toMatchObject({ text: '  spaces  ', ok: 'false', tags: '[]' });
    expect(csv).toContain('"comma, ""quotes"" and\nnewline"');
  });

  it('merges declared columns into the header, replacing a null parent', async () => {
    const rows = [
      { id: '1', answer: null, error: 'bad' },
      { id: '2', answer: { topic: 'x', score: 2 }, error: null },
    ];
    const parsed = parse(await text(csvRowStringifier({ columns: ['answer.topic', 'answer.score', 'extra'] }), rows), { columns: true });
    expect(parsed).toEqual([
      { id: '1', 'answer.topic': '', 'answer.score': '', error: 'bad', extra: '' },
      { id: '2', 'answer.topic': 'x', 'answer.score': '2', error: '', extra: '' },
    ]);
  });

  it('warns once about a column that appears after the header and drops it', async () => {
    const warnings: string[] = [];
    const rows = [{ a: 1 }, { a: 2, late: 'x' }, { a: 3, late: 'y', empty: null }];
    const parsed = parse(await text(csvRowStringifier({ onWarning: (w) => warnings.push(w) }), rows), { columns: true });
    expect(parsed).toEqual([{ a: '1' }, { a: '2' }, { a: '3' }]);
    expect(warnings).toEqual([expect.stringContaining('column "late" first appears after the CSV header')]);
  });

  it('keeps listed columns whole as JSON', async () => {
    const parsed = parse(await text(csvRowStringifier({ keepWhole: ['raw'] }), [{ a: 1, raw: { b: { c: 1 } } }]), { columns: true });
    expect(parsed).toEqual([{ a: '1', raw: '{"b":{"c":1}}' }]);
  });

  it('writes TSV and the declared header for an empty input', async () => {
    expect(await text(outputStream({ format: 'tsv' }), [{ a: 1, b: 'x y' }])).toBe('a\tb\n1\tx y\n');
    expect(await text(csvRowStringifier({ columns: ['a', 'b'] }), [])).toBe('a,b\n');
  });

  it('rejects bad options with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => csvRowStringifier({ delimiter: '' })), { code: 'OPTION_INVALID', field: 'delimiter' });
  });
});

describe('jsonArrayStringifier', () => {
  it('streams a valid JSON array that round-trips', async () => {
    const out = await text(jsonArrayStringifier(), tricky);
    expect(JSON.parse(out)).toEqual(tricky);
    expect(JSON.parse(await text(jsonArrayStringifier(), []))).toEqual([]);
  });
});

describe('outputStream', () => {
  it('writes JSON Lines by default', async () => {
    const out = await text(outputStream(), tricky);
    expect(out.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(tricky);
  });
});

describe('resolveOutputFormat', () => {
  it('takes the explicit format, else the extension, else JSON Lines', async () => {
    expect(resolveOutputFormat('csv', 'x.json')).toBe('csv');
    expect(resolveOutputFormat(undefined, 'OUT.CSV')).toBe('csv');
    expect(resolveOutputFormat(undefined, 'out.json')).toBe('json');
    expect(resolveOutputFormat(undefined, 'out.ndjson')).toBe('jsonl');
    expect(resolveOutputFormat(undefined, 'out.txt')).toBe('jsonl');
    expect(resolveOutputFormat(undefined, '-')).toBe('jsonl');
    expectKbatchError(await catchError(() => resolveOutputFormat('xml')), { code: 'OPTION_INVALID', field: 'outputFormat' });
  });
});

describe('flattenRow', () => {
  it('flattens nested objects only', () => {
    expect(flattenRow({ a: { b: { c: 1 } }, d: [1], e: {}, f: null })).toEqual({ 'a.b.c': 1, d: [1], e: {}, f: null });
  });
});

describe('csvRowFormat', () => {
  it('quotes every cell as csv-stringify does (delimiters of one and several characters, quotes, line breaks, odd types)', async () => {
    const { stringify } = await import('csv-stringify/sync');
    const { csvRowFormat } = await import('../../src/output/csv-row-stringifier.js');
    const values: unknown[] = ['', 'plain', 'a,b', 'say "hi"', 'line\nbreak', 'cr\rhere', 'tab\there', ';;', 'a;', ';a', 'ünï', ' spaced ', '"', 0, -0, 1.5, 1e21, NaN, 10n, true, false, null, undefined, [1, 'x'], { nested: 'x' }];
    for (const delimiter of [',', '\t', ';', ';;', '|:', '.', '1', 'e', '-', 'a', '"']) {
      const csv = { delimiter, cast: { boolean: (v: boolean) => String(v) } };
      for (let n = 0; n < 300; n++) {
        const row: Record<string, unknown> = {};
        for (let c = 0; c < 4; c++) row[`c${c}`] = values[(n * 7 + c * 13 + (n >> 2)) % values.length];
        const format = csvRowFormat({ delimiter, keepWhole: ['c0', 'c1', 'c2', 'c3'] });
        const cells = Object.values(row).map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : v));
        expect(format.row(row), JSON.stringify({ delimiter, cells: cells.map(String) })).toBe(stringify([Object.keys(row)], csv) + stringify([cells], csv));
      }
    }
  });

  it('writes every row of one format as csv-stringify does, a quoted cell leaving nothing for the next row', async () => {
    const { stringify } = await import('csv-stringify/sync');
    const { csvRowFormat } = await import('../../src/output/csv-row-stringifier.js');
    const values: unknown[] = ['plain', 'a,b', 'say "hi"', 'line\nbreak', null, 7, -0, true, 10n, undefined, 'ünï', { nested: 'x' }];
    for (const delimiter of [',', '\t', ';;']) {
      const format = csvRowFormat({ delimiter, columns: ['a', 'b', 'c'], keepWhole: ['a', 'b', 'c'] });
      const csv = { delimiter, cast: { boolean: (v: boolean) => String(v) } };
      let expected = stringify([['a', 'b', 'c']], csv);
      let written = '';
      for (let n = 0; n < 60; n++) {
        const row = { a: values[n % values.length], b: values[(n * 5 + 1) % values.length], c: values[(n * 7 + 2) % values.length] };
        written += format.row(row);
        expected += stringify([Object.values(row).map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : v))], csv);
      }
      expect(written).toBe(expected);
    }
  });
});
