import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from '../helpers/spawn.js';
import { spawnCli } from './job-fixtures.js';

const ARGS = ['--provider', 'openai', '--model', 'gpt-4o-mini', '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral'];

async function input(): Promise<{ root: string; file: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-estimate-cli-'));
  const file = join(root, 'reviews.csv');
  await writeFile(file, 'id,text\nr1,"I love it, ""great"""\nr2,"line one\nline two — terrible"\nr3,okay 😀\n');
  return { root, file };
}

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ timeScale: 0.001, seed: 5, validationMs: 10, lineMs: 0, finalizingMs: 10 });
});
afterAll(async () => {
  await emu.close();
});

describe('kbatch estimate', () => {
  it('takes prices from --prices FILE, so --max-cost can check a kluster batch run; a row without a source is refused', async () => {
    const { root, file } = await input();
    const row = { providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'https://example.test/kluster', checked: '2026-12-01' };
    await writeFile(join(root, 'prices.json'), JSON.stringify([row]));
    const kluster = ['--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', '--prompt', '{{text}}', '--max-completion-tokens', '5', '--no-cache'];
    const unknown = await runCli(['estimate', file, ...kluster, '--max-cost', '1'], { cwd: root });
    expect(unknown.stderr).toMatch(/^error \[COST_UNKNOWN\]: .*--prices FILE/m);
    const priced = await runCli(['estimate', file, ...kluster, '--prices', 'prices.json', '--max-cost', '1', '--json'], { cwd: root });
    expect(priced.code).toBe(0);
    expect(JSON.parse(priced.stdout)).toMatchObject({ mode: 'batch', prices: { input_per_mtok: 0.05, source: 'https://example.test/kluster', checked: '2026-12-01' }, cost: { worst_case: expect.any(Number) } });
    expect((await runCli(['estimate', file, ...kluster, '--prices', 'prices.json', '--max-cost', '0.0000001'], { cwd: root })).stderr).toMatch(/^error \[BUDGET_EXCEEDED\]/m);
    await writeFile(join(root, 'bad.json'), JSON.stringify([{ ...row, source: '' }]));
    const bad = await runCli(['estimate', file, ...kluster, '--prices', 'bad.json'], { cwd: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error \[OPTION_INVALID\]: .*bad\.json row 1 `source`: must say where the price was seen/m);
  });

  it('counts the requests the request cache answers (--cache-dir): cached_requests in --json, a line for a person, cost 0 for them', async () => {
    const { root, file } = await input();
    const kluster = ['--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', '--prompt', '{{text}}', '--mode', 'realtime', '--cache-dir', 'cache'];
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    expect((await runCli(['run', file, ...kluster, '--output', 'out.jsonl', '--quiet'], { cwd: root, env })).code).toBe(0);
    const json = await runCli(['estimate', file, ...kluster, '--json'], { cwd: root });
    expect(JSON.parse(json.stdout)).toMatchObject({ requests: 3, cached_requests: 3, batches: 0, prompt_tokens: 0, cost: { expected: 0, worst_case: 0 } });
    const text = await runCli(['estimate', file, ...kluster], { cwd: root });
    expect(text.stdout).toMatch(/^requests: +3 of 3 records; 3 answered by the request cache \(not sent, cost 0; not counted below\)$/m);
    const off = await runCli(['estimate', file, ...kluster, '--no-cache', '--json'], { cwd: root });
    expect(JSON.parse(off.stdout)).toMatchObject({ requests: 3, cached_requests: 0 });
  });

  it('prints one JSON object with --json, needs no API key, and writes nothing', async () => {
    const { root, file } = await input();
    const run = await runCli(['estimate', file, ...ARGS, '--max-requests', '2', '--json'], { cwd: root });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const e = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(e).toMatchObject({ requests: 3, batches: 2, provider: 'openai', tokenizer: 'o200k_base (gpt-tokenizer)', completion_tokens: { expected: 6, max: 3 * 16_384 }, cost: { currency: 'USD' }, prices: { checked: '2026-12-05' } });
    expect(Object.keys(e)).toEqual(expect.arrayContaining(['requests', 'batches', 'prompt_tokens', 'completion_tokens', 'cost', 'tokenizer', 'prices']));
    expect(await readdir(root)).toEqual(['reviews.csv']);
  });

  it('with --max-cost prints the estimate, then exits 1 with error [BUDGET_EXCEEDED] when the worst case is above it', async () => {
    const { root, file } = await input();
    const run = await runCli(['estimate', file, ...ARGS, '--max-cost', '0.001', '--json'], { cwd: root });
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ requests: 3 });
    expect(run.stderr).toMatch(/^error \[BUDGET_EXCEEDED\]: the worst-case cost/m);
    const fits = await runCli(['estimate', file, ...ARGS, '--max-completion-tokens', '5', '--max-cost', '0.001', '--json'], { cwd: root });
    expect(fits.code).toBe(0);
  });

  it('prints lines for a person, with unknown prices said as unknown', async () => {
    const { root, file } = await input();
    const run = await runCli(['estimate', file, '--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', '--prompt', '{{text}}'], { cwd: root });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^requests: +3 of 3 records$/m);
    expect(run.stdout).toMatch(/^prompt tokens: +\d+ \(llama3 \(llama3-tokenizer-js\)\)$/m);
    expect(run.stdout).toMatch(/^cost: +unknown expected, unknown worst case/m);
  });
});

describe('kbatch run --dry-run / --max-cost', () => {
  it('--dry-run prints the estimate and uploads, creates and writes nothing', async () => {
    const { root, file } = await input();
    const before = emu.stats();
    const run = await runCli(['run', file, ...ARGS, '--base-url', emu.baseURL, '--dry-run', '--json'], { cwd: root, env: { OPENAI_API_KEY: 'sk-x' } });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ requests: 3, batches: 1 });
    expect([emu.stats().filesCreated, emu.stats().batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
    expect(await readdir(root)).toEqual(['reviews.csv']);
  });

  it('--max-cost below the worst case exits 1 with error [BUDGET_EXCEEDED] before any upload', async () => {
    const { root, file } = await input();
    const before = emu.stats();
    const run = await runCli(['run', file, ...ARGS, '--base-url', emu.baseURL, '--max-cost', '0.001', '--quiet'], { cwd: root, env: { OPENAI_API_KEY: 'sk-x' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[BUDGET_EXCEEDED\]: the worst-case cost \$0\.015 .*above --max-cost \$0\.0010; nothing was uploaded or sent\. --max-completion-tokens \d+/m);
    expect(run.stdout).toBe('');
    expect([emu.stats().filesCreated, emu.stats().batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
  });
  it('--max-cost refuses the rerun of a job killed after prepare whose requests another job cached since: the job sends its chunks', async () => {
    const { root, file } = await input();
    const row = { providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'https://example.test/kluster', checked: '2026-12-01' };
    await writeFile(join(root, 'prices.json'), JSON.stringify([row]));
    const args = ['run', file, '--model', row.model, '--prompt', '{{text}}', '--max-completion-tokens', '5', '--cache-dir', 'cache', '--prices', 'prices.json', '--poll-interval', '20ms', '--quiet'];
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const killed = await spawnCli([...args, '--job-dir', 'a'], { ...env, KBATCH_TEST_CRASH_AT: 'run-after-prepare' }, root);
    expect(killed.signal).toBe('SIGKILL');
    // Job b answers the same requests, so the cache holds them; job a's chunks were cut without them.
    expect((await spawnCli([...args, '--job-dir', 'b', '--output', 'b.jsonl'], env, root)).code).toBe(0);
    const before = emu.stats();
    const rerun = await spawnCli([...args, '--job-dir', 'a', '--output', 'a.jsonl', '--max-cost', '0.000000001'], env, root);
    expect(rerun.code).toBe(1);
    expect(rerun.stderr).toMatch(/^error \[BUDGET_EXCEEDED\]: the worst-case cost .* of 3 requests to .*nothing was uploaded or sent/m);
    expect([emu.stats().filesCreated, emu.stats().batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
  });
});
