import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPrices, resolvePrices } from '../../src/cost/price-file.js';
import { runJob } from '../../src/internal.js';
import { createClient } from '../../src/client/index.js';
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
    expectKbatchError(await catchError(() => loadPrices(path, dir)), { code: 'OPTION_INVALID', field: 'prices', message: /prices\.json row 2 `source`: must say where the price was seen/ });
    const { checked: _, ...undated } = ROW;
    expectKbatchError(await catchError(() => loadPrices([undated], dir)), { code: 'OPTION_INVALID', message: /^Invalid option `prices`: row 1 `checked`: must be the date the price was checked \(YYYY-MM-DD\)$/ });
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, checked: 'yesterday' }], dir)), { code: 'OPTION_INVALID', message: /row 1 `checked`/ });
  });

  it('refuses figures that are not prices, a mode that is not one, and a file that is not an array (OPTION_INVALID)', async () => {
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, inputPerMTok: -1 }], '.')), { code: 'OPTION_INVALID', message: /row 1 `inputPerMTok`: must be 0 or more/ });
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, mode: 'flex' }], '.')), { code: 'OPTION_INVALID', message: /row 1 `mode`: must be "batch" or "realtime"/ });
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, currency: 'EUR' }], '.')), { code: 'OPTION_INVALID', message: /row 1 `currency`: must be "USD"/ });
    const { dir, path } = await file(JSON.stringify({ rows: [ROW] }));
    expectKbatchError(await catchError(() => loadPrices(path, dir)), { code: 'OPTION_INVALID', message: /must be a JSON array of price rows/ });
  });

  it('refuses a key a row does not have (a typo), naming it and the keys a row may have (OPTION_INVALID)', async () => {
    const { dir, path } = await file(JSON.stringify([ROW, { ...ROW, ouputPerMTok: 1 }]));
    expectKbatchError(await catchError(() => loadPrices(path, dir)), {
      code: 'OPTION_INVALID',
      message: /prices\.json row 2: unknown key `ouputPerMTok` \(a row's keys: currency, inputPerMTok, outputPerMTok, cachedInputPerMTok, source, checked, providers, model, mode, window, outputCap\)$/,
    });
  });

  it('refuses a provider kbatch has no profile for, listing the ones it has (OPTION_INVALID)', async () => {
    expectKbatchError(await catchError(() => loadPrices([{ ...ROW, providers: ['kluster', 'klustr'] }], '.')), { code: 'OPTION_INVALID', message: /row 1 `providers\.1`: must be one of kluster, .*openai/ });
  });

  it('refuses a checked date that does not exist (OPTION_INVALID)', async () => {
    for (const checked of ['2026-02-30', '2026-13-01', '2026-1-01', '2026-12-01T00:00:00Z']) {
      expectKbatchError(await catchError(() => loadPrices([{ ...ROW, checked }], '.')), { code: 'OPTION_INVALID', message: /row 1 `checked`: must be the date the price was checked \(YYYY-MM-DD\), a day that exists/ });
    }
    expect(await loadPrices([{ ...ROW, checked: '2024-02-29' }], '.')).toEqual([{ ...ROW, checked: '2024-02-29' }]);
  });

  it('says the same problems of rows given to runJob as the option `prices`, before anything is written (OPTION_INVALID)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-prices-'));
    // Nothing is sent: the options are refused first.
    const options = { client: createClient({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1' }), input: join(dir, 'absent.csv'), cwd: dir, model: 'm', prompt: '{{text}}' };
    expectKbatchError(await catchError(() => runJob({ ...options, prices: [{ ...ROW, modle: 'x' }] })), { code: 'OPTION_INVALID', field: 'prices', message: /^Invalid option `prices`: row 1: unknown key `modle`/ });
    expectKbatchError(await catchError(() => runJob({ ...options, prices: [ROW, { ...ROW, checked: '2026-02-30' }] })), { code: 'OPTION_INVALID', field: 'prices', message: /^Invalid option `prices`: row 2 `checked`: .*a day that exists/ });
    expectKbatchError(await catchError(() => runJob({ ...options, prices: 5 as never })), { code: 'OPTION_INVALID', field: 'prices', message: /must be a price file path or an array of price rows/ });
    expect(await readdir(dir)).toEqual([]);
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
  });
});
