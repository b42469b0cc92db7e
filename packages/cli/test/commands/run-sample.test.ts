import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli, spawnCli } from './job-fixtures.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--poll-interval', '20ms', '--no-cache'];

// The ids of a JSON Lines output, in its order.
async function ids(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line).id as string);
}

describe('kbatch run --sample', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 9 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });
  const sampled = async (cwd: string, extra: string[], out: string) => {
    const run = await runCli(['run', REVIEWS, ...ARGS, ...extra, '--output', out, '--progress', 'json'], { env, cwd });
    expect(run.code, String(run.error)).toBe(0);
    return { rows: await ids(join(cwd, out)), summary: JSON.parse(run.stderr.trim().split('\n').at(-1)!) };
  };

  it('takes the same rows for the same seed, other rows for another seed, in input order', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    const a = await sampled(cwd, ['--sample', '8'], 'a.jsonl');
    const b = await sampled(cwd, ['--sample', '8', '--job-dir', 'other'], 'b.jsonl');
    const c = await sampled(cwd, ['--sample', '8', '--sample-seed', '7'], 'c.jsonl');
    expect(a.rows).toHaveLength(8);
    expect(b.rows).toEqual(a.rows);
    expect(c.rows).toHaveLength(8);
    expect(c.rows).not.toEqual(a.rows);
    // Input order: r01 … r30 sort as written.
    for (const rows of [a.rows, c.rows]) expect(rows).toEqual([...rows].sort());
    expect(a.summary).toMatchObject({ records: 8, succeeded: 8, sample: { size: 8, of: 30, seed: 42, stratify: null } });
    expect(c.summary.sample).toEqual({ size: 8, of: 30, seed: 7, stratify: null });
  });

  it('says it is a sample of how many rows in the text summary', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    const run = await runCli(['run', REVIEWS, ...ARGS, '--sample', '5', '--output', 'out.jsonl'], { env, cwd });
    expect(run.code, String(run.error)).toBe(0);
    expect(run.stderr).toContain('sample of 5 rows out of 30 (seed 42)\nrecords 5: 5 succeeded');
  });

  it('takes each value of --stratify in proportion, at least one each', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    // reviews.csv: 12 positive, 9 negative, 9 neutral → 10 rows: 4, 3, 3.
    const { summary } = await sampled(cwd, ['--sample', '10', '--stratify', 'sentiment', '--gold', 'sentiment'], 'out.jsonl');
    const rows = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).sentiment as string);
    expect([rows.filter((s) => s === 'positive').length, rows.filter((s) => s === 'negative').length, rows.filter((s) => s === 'neutral').length]).toEqual([4, 3, 3]);
    expect(summary.sample).toEqual({ size: 10, of: 30, seed: 42, stratify: 'sentiment' });
    expect(summary.eval.n).toBe(10);
  });

  it('takes a fraction record by record, the same rows again for the same seed', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    const a = await sampled(cwd, ['--sample', '0.5'], 'a.jsonl');
    const b = await sampled(cwd, ['--sample', '0.5', '--job-dir', 'again'], 'b.jsonl');
    expect(b.rows).toEqual(a.rows);
    expect(a.rows.length).toBeGreaterThan(5);
    expect(a.rows.length).toBeLessThan(25);
    expect(a.summary.sample).toEqual({ size: a.rows.length, of: 30, seed: 42, stratify: null });
  });

  it('refuses a count above 1,000,000 and a fraction outside (0, 1) with OPTION_INVALID', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    const big = await runCli(['run', REVIEWS, ...ARGS, '--sample', '1000001'], { env, cwd });
    expect(big.error).toMatchObject({ code: 'OPTION_INVALID', message: 'Invalid option `--sample`: must be at most 1,000,000 records (for a larger sample give a fraction), got "1000001"' });
    const fraction = await runCli(['run', REVIEWS, ...ARGS, '--sample', '1.5'], { env, cwd });
    expect(fraction.error).toMatchObject({ code: 'OPTION_INVALID', message: 'Invalid option `--sample`: must be a fraction between 0 and 1 (exclusive), got "1.5"' });
    const seed = await runCli(['run', REVIEWS, ...ARGS, '--sample-seed', '3'], { env, cwd });
    expect(seed.error).toMatchObject({ code: 'OPTION_INVALID', message: 'Invalid option `--sample-seed`: needs --sample N or --sample FRACTION' });
  });

  it('takes the same sample in kbatch prepare and kbatch estimate as in kbatch run', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    const sample = ['--sample', '7', '--sample-seed', '11', '--stratify', 'sentiment'];
    const run = await runCli(['run', REVIEWS, ...ARGS, ...sample, '--output', 'out.jsonl'], { env, cwd });
    expect(run.code, String(run.error)).toBe(0);
    const ran = (await readFile(join(cwd, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).custom_id as string);
    const prepared = await runCli(['prepare', REVIEWS, '--model', MODEL, '--prompt', 'Review: {{text}}', ...sample], { cwd });
    expect(prepared.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id)).toEqual(ran);
    expect(prepared.stderr).toContain('prepare: sample of 7 rows out of 30 (seed 11, stratified by sentiment)\n');
    const estimated = await runCli(['estimate', REVIEWS, ...ARGS, ...sample, '--json'], { cwd });
    expect(JSON.parse(estimated.stdout)).toMatchObject({ records: 7, requests: 7 });
  });

  it('resumes a run killed mid-run with the same sample and no second batch; refuses another sample for it', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-sample-'));
    const args = ['run', REVIEWS, ...ARGS, '--sample', '6', '--sample-seed', '5', '--job-dir', 'job', '--output', 'out.jsonl'];
    const created = emu.stats().batchesCreated;
    const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: 'during-wait' }, cwd);
    expect(crashed.signal).toBe('SIGKILL');
    const other = await runCli(['run', REVIEWS, ...ARGS, '--sample', '6', '--sample-seed', '6', '--job-dir', 'job', '--output', 'out.jsonl'], { env, cwd });
    expect(other.error).toMatchObject({ code: 'JOB_MISMATCH' });
    expect(String((other.error as Error).message)).toContain('different sample (--sample, --sample-seed, --stratify)');
    const resumed = await spawnCli(args, env, cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(1);
    const clean = await sampled(cwd, ['--sample', '6', '--sample-seed', '5', '--job-dir', 'clean'], 'clean.jsonl');
    expect(await ids(join(cwd, 'out.jsonl'))).toEqual(clean.rows);
  });
});
