import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPrices, resolvePrices } from '../../src/cost/price-file.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const ROW = { providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.06, source: 'https://example.test/pricing', checked: '2026-12-01' };

async function file(content: string): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-prices-'));
  await writeFile(join(dir, 'prices.json'), content);
  return { dir, path: join(dir, 'prices.json') };
}

describe('loadPrices', () => {
  it('reads a JSON array of rows from a file (relative to cwd) or takes the rows themselves', async () => {
    const { dir } = await file(JSON.stringify([ROW]));
    expect(await loadPrices('prices.json', dir)).toEqual([ROW]);
    expect(await loadPrices([ROW], dir)).toEqual([ROW]);
  });

  it('refuses a row without its source or the date it was checked, naming the file, the row and the field (OPTION_INVALID)', async () => {
    const { dir, path } = await file(JSON.stringify([ROW, { ...ROW, source: ' ' }]));
    expectKbatchError(await catchError(() => loadPrices(path, dir)), { code: 'OPTION_INVALID', field: 'prices', message: /prices\.json row 1 `source`: must say where the price was seen/ });
    const { checked: _, ...undated } = ROW;
    expectKbatchError(await catchError(() => loadPrices([undated], dir)), { code: 'OPTION_INVALID', message: /^Invalid option `prices`: row 0 `checked`: must be the date the price was checked \(YYYY-MM-DD\)$/ });
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, checked: 'yesterday' }], dir)), { code: 'OPTION_INVALID', message: /row 0 `checked`/ });
  });

  it('refuses figures that are not prices, a mode that is not one, and a file that is not an array (OPTION_INVALID)', async () => {
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, inputPerMTok: -1 }], '.')), { code: 'OPTION_INVALID', message: /row 0 `inputPerMTok`: must be 0 or more/ });
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, mode: 'flex' }], '.')), { code: 'OPTION_INVALID', message: /row 0 `mode`: must be "batch" or "realtime"/ });
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, currency: 'EUR' }], '.')), { code: 'OPTION_INVALID', message: /row 0 `currency`: must be "USD"/ });
    const { dir, path } = await file(JSON.stringify({ rows: [ROW] }));
    expectKbatchError(await catchError(() => loadPrices(path, dir)), { code: 'OPTION_INVALID', message: /must be a JSON array of price rows/ });
  });

  it('says a file it cannot read or parse (OPTION_INVALID with the file)', async () => {
    const { dir, path } = await file('[{"providers": ');
    expectKbatchError(await catchError(() => loadPrices(path, dir)), { code: 'OPTION_INVALID', file: path, message: /is not JSON/ });
    expectKbatchError(await catchError(() => loadPrices('absent.json', dir)), { code: 'OPTION_INVALID', file: join(dir, 'absent.json'), message: /cannot read .*absent\.json: ENOENT/ });
  });
});

describe('resolvePrices', () => {
  it('merges the rows over the built-in table; a priceOf function answers lookups instead when given', async () => {
    const q = { provider: 'kluster', model: ROW.model, mode: 'batch' } as const;
    expect((await resolvePrices({}, '.')).priceOf(q)).toBeUndefined();
    expect((await resolvePrices({ prices: [ROW] }, '.')).priceOf(q)?.inputPerMTok).toBe(0.05);
    const own = await resolvePrices({ prices: [ROW], priceOf: () => undefined }, '.');
    expect(own.priceOf(q)).toBeUndefined();
    expect(own.rows[0]).toEqual(ROW);
  });
});
