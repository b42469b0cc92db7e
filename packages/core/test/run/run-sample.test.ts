import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSample, runSample, SAMPLE_FILE, sampleSummary } from '../../src/run/run-sample.js';
import { RunSettingsSchema, type RunSettings } from '../../src/state/run-state.js';

async function job(rows: number): Promise<{ dir: string; settings: RunSettings }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
  const input = join(dir, 'in.csv');
  await writeFile(input, `id\n${Array.from({ length: rows }, (_, i) => i + 1).join('\n')}\n`);
  const settings = RunSettingsSchema.parse({
    input, spooled: false, format: 'csv', onInvalidRecord: 'error', request: { model: 'm', prompt: '{{id}}' }, confidence: false, retries: 0,
    window: '24h', output: null, outputFormat: 'jsonl', rejects: null, prefix: '', keepRaw: false, sample: { size: 5 },
  });
  return { dir, settings };
}

describe('runSample', () => {
  it('saves the draw in the job directory and reads it back while the spec is the same', async () => {
    const { dir, settings } = await job(50);
    const first = await runSample(dir, settings);
    const saved = JSON.parse(await readFile(join(dir, SAMPLE_FILE), 'utf8'));
    expect(saved).toEqual(first);
    // A saved draw is what a resume takes, even if drawing again would differ (it is never re-drawn).
    await writeFile(join(dir, SAMPLE_FILE), JSON.stringify({ ...saved, picked: [1, 2, 3, 4, 5] }));
    expect((await runSample(dir, settings)).picked).toEqual([1, 2, 3, 4, 5]);
    // Another spec draws again.
    const other = await runSample(dir, { ...settings, sample: { size: 5, seed: 1 } });
    expect(other.spec.seed).toBe(1);
    expect(other.picked).not.toEqual([1, 2, 3, 4, 5]);
  });
});

describe('formatSample', () => {
  it('says how many rows out of how many, with the seed and the strata column', async () => {
    const { dir, settings } = await job(30_000);
    expect(formatSample(sampleSummary(await runSample(dir, settings)))).toBe('sample of 5 rows out of 30,000 (seed 42)');
    expect(formatSample({ size: 1, of: 2, seed: 3, stratify: 'lang' })).toBe('sample of 1 row out of 2 (seed 3, stratified by lang)');
  });
});
