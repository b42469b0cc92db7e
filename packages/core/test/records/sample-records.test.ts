import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drawSample, MAX_STRATA, recordDraw, sampleFilter, SampleOptionsSchema, shares } from '../../src/records/sample-records.js';
import { recordBatches } from '../../src/records/record-batches.js';
import { parseOptions } from '../../src/options.js';
import { expectKbatchError } from '../helpers/errors.js';

// A CSV of `n` rows whose `group` column cycles through the given values by the given counts.
async function csv(groups: Record<string, number>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-sample-'));
  const rows = Object.entries(groups).flatMap(([g, n]) => Array.from({ length: n }, () => g));
  // Interleaved, so a value's records are spread over the file.
  rows.sort((a, b) => (a === b ? 0 : a < b ? -1 : 1)).reverse();
  const file = join(dir, 'in.csv');
  await writeFile(file, `id,group\n${rows.map((g, i) => `${i + 1},${g}`).join('\n')}\n`);
  return file;
}

describe('recordDraw', () => {
  it('is a deterministic uniform number in [0, 1) per seed and record number', () => {
    const draws = Array.from({ length: 20_000 }, (_, i) => recordDraw(42, i + 1));
    expect(draws.every((u) => u >= 0 && u < 1)).toBe(true);
    expect(recordDraw(42, 17)).toBe(draws[16]);
    expect(recordDraw(43, 17)).not.toBe(draws[16]);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    // Tenths hold about a tenth each.
    for (let d = 0; d < 10; d++) expect(Math.abs(draws.filter((u) => Math.floor(u * 10) === d).length - 2000)).toBeLessThan(200);
  });
});

describe('drawSample', () => {
  it('takes `size` records, the same ones for the same seed, others for another, ascending', async () => {
    const file = await csv({ a: 500 });
    const one = await drawSample({ input: file }, { size: 20 });
    const again = await drawSample({ input: file }, { size: 20, seed: 42 });
    const other = await drawSample({ input: file }, { size: 20, seed: 1 });
    expect(one).toMatchObject({ of: 500, size: 20 });
    expect(again.picked).toEqual(one.picked);
    expect(other.picked).not.toEqual(one.picked);
    expect(one.picked).toEqual([...one.picked!].sort((a, b) => a - b));
    const keep = sampleFilter(one);
    expect(Array.from({ length: 500 }, (_, i) => i + 1).filter(keep)).toEqual(one.picked);
  });

  it('gives every record an equal chance (reservoir sampling over many seeds)', async () => {
    const file = await csv({ a: 10 });
    const hits = new Array<number>(11).fill(0);
    for (let seed = 0; seed < 2000; seed++) for (const n of (await drawSample({ input: file }, { size: 3, seed })).picked!) hits[n]!++;
    // Each record is taken with probability 3/10: 600 of 2,000 draws.
    for (let n = 1; n <= 10; n++) expect(Math.abs(hits[n]! - 600)).toBeLessThan(90);
  });

  it('takes every record when the input has fewer than `size`', async () => {
    const file = await csv({ a: 4 });
    expect(await drawSample({ input: file }, { size: 10 })).toMatchObject({ of: 4, size: 4, picked: [1, 2, 3, 4] });
  });

  it('takes each value of `stratify` in proportion, at least one per value', async () => {
    const file = await csv({ a: 700, b: 290, c: 10 });
    const draw = await drawSample({ input: file }, { size: 100, stratify: 'group' });
    const groups = new Map<number, string>();
    for await (const batch of recordBatches({ input: file })) for (const r of batch) groups.set(r.index, r.data['group'] as string);
    const count = (g: string) => draw.picked!.filter((n) => groups.get(n) === g).length;
    expect([count('a'), count('b'), count('c'), draw.size]).toEqual([70, 29, 1, 100]);
  });

  it('takes exactly `size` when many values of one record crowd a large one (the large one gives back until it fits)', async () => {
    const file = await csv({ big: 100, v1: 1, v2: 1, v3: 1, v4: 1, v5: 1, v6: 1, v7: 1, v8: 1, v9: 1 });
    const draw = await drawSample({ input: file }, { size: 10, stratify: 'group' });
    expect(draw.size).toBe(10);
  });

  it('takes a fraction record by record, with one record for a value the draws missed when stratified', async () => {
    const file = await csv({ a: 2000, rare: 1 });
    const draw = await drawSample({ input: file }, { fraction: 0.1 });
    expect(draw.picked).toBeUndefined();
    expect(Math.abs(draw.size - 200)).toBeLessThan(45);
    const keep = sampleFilter(draw);
    expect(Array.from({ length: 2001 }, (_, i) => i + 1).filter(keep)).toHaveLength(draw.size);
    const stratified = await drawSample({ input: file }, { fraction: 0.0001, stratify: 'group' });
    // The rare value's one record is its lowest draw; `a` keeps whatever its draws took, or its lowest one.
    expect(stratified.extras!.length).toBeGreaterThanOrEqual(1);
    expect(sampleFilter(stratified)(1)).toBe(true); // rare sorts last, so reversed it is record 1
  });

  it('refuses more than MAX_STRATA values with SAMPLE_TOO_MANY_STRATA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-sample-'));
    const file = join(dir, 'ids.csv');
    await writeFile(file, `id\n${Array.from({ length: MAX_STRATA + 1 }, (_, i) => i).join('\n')}\n`);
    const err = await drawSample({ input: file }, { size: 5, stratify: 'id' }).catch((e: unknown) => e);
    expectKbatchError(err, { code: 'SAMPLE_TOO_MANY_STRATA', message: `${file}: more than 1000 distinct values in the --stratify column "id"; is it a category?` });
  });
});

describe('drawSample stratify column', () => {
  it('refuses a CSV header without the --stratify column with SAMPLE_COLUMN_MISSING, naming the columns', async () => {
    const file = await csv({ a: 3 });
    const err = await drawSample({ input: file }, { fraction: 0.5, stratify: 'lang' }).catch((e: unknown) => e);
    expectKbatchError(err, { code: 'SAMPLE_COLUMN_MISSING', message: `${file} line 1 (header) has no column "lang" (--stratify); its columns are: id, group` });
  });
});

describe('SampleOptionsSchema', () => {
  it('refuses a count above 1,000,000, a fraction outside (0, 1), and neither or both', () => {
    const invalid = (input: unknown) => {
      try {
        parseOptions(SampleOptionsSchema, input, 'sample');
      } catch (err) {
        return err;
      }
      return null;
    };
    expectKbatchError(invalid({ size: 1_000_001 }), { code: 'OPTION_INVALID', message: /`size`: must be at most 1,000,000 records/ });
    expectKbatchError(invalid({ fraction: 1 }), { code: 'OPTION_INVALID', message: /`fraction`: must be a fraction between 0 and 1/ });
    expectKbatchError(invalid({}), { code: 'OPTION_INVALID', message: /exactly one of `size` and `fraction`/ });
    expectKbatchError(invalid({ size: 3, fraction: 0.5 }), { code: 'OPTION_INVALID', message: /exactly one of `size` and `fraction`/ });
    expect(parseOptions(SampleOptionsSchema, { size: 3 }, 'sample')).toEqual({ size: 3, seed: 42 });
  });
});

describe('shares', () => {
  it('splits by largest remainder, at least one per value, never more than a value has', () => {
    expect(Object.fromEntries(shares(new Map([['a', 12], ['b', 9], ['c', 9]]), 10))).toEqual({ a: 4, b: 3, c: 3 });
    expect(Object.fromEntries(shares(new Map([['a', 98], ['b', 1], ['c', 1]]), 5))).toEqual({ a: 3, b: 1, c: 1 });
    expect(Object.fromEntries(shares(new Map([['a', 2], ['b', 50]]), 40))).toEqual({ a: 2, b: 38 });
  });

  it('gives back pass after pass until the total fits, exceeding `size` only with more values than `size`', () => {
    const crowded = new Map([['big', 100], ...Array.from({ length: 9 }, (_, i) => [`v${i}`, 1] as [string, number])]);
    const quota = shares(crowded, 10);
    expect([...quota.values()].reduce((a, b) => a + b, 0)).toBe(10);
    expect(quota.get('big')).toBe(1);
    const twoBig = new Map([['a', 50], ['b', 50], ...Array.from({ length: 6 }, (_, i) => [`v${i}`, 1] as [string, number])]);
    expect(Object.fromEntries(shares(twoBig, 10))).toMatchObject({ a: 2, b: 2 });
    const many = new Map(Array.from({ length: 12 }, (_, i) => [`v${i}`, 5] as [string, number]));
    expect([...shares(many, 10).values()].reduce((a, b) => a + b, 0)).toBe(12);
  });
});

describe('recordBatches keep', () => {
  it('drops the records and the rejected records a sample does not take', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-sample-'));
    const file = join(dir, 'in.csv');
    await writeFile(file, 'id,text\n1,a\n2,"bad\n3,c\n');
    const rejected: number[] = [];
    const read = async (keep: (n: number) => boolean) => {
      const got: number[] = [];
      for await (const batch of recordBatches({ input: file, onInvalidRecord: 'skip', onReject: (r) => rejected.push(r.record), keep })) got.push(...batch.map((r) => r.index));
      return got;
    };
    expect(await read(() => true)).toEqual([1]);
    const all = [...rejected];
    rejected.length = 0;
    expect(await read((n) => n !== 1)).toEqual([]);
    expect(rejected).toEqual(all);
    rejected.length = 0;
    expect(await read((n) => n === 1)).toEqual([1]);
    expect(rejected).toEqual([]);
  });
});
