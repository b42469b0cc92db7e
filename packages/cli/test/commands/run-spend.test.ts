import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const ARGS = ['--prompt', 'Review: {{text}}', '--labels', 'positive,negative', '--poll-interval', '20ms'];

describe('kbatch run: actual spend', () => {
  const started: Emulator[] = [];
  afterAll(async () => {
    await Promise.all(started.map((e) => e.close()));
  });

  it('reports tokens per model and mode in the summary, the --progress json summary and job/spend.json', async () => {
    const emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 3 });
    started.push(emu);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-spend-'));
    await writeFile(join(cwd, 'in.jsonl'), '{"text":"great, love it"}\n{"text":"awful, broken"}\n{"text":"nice"}\n');
    const json = await runCli(['run', 'in.jsonl', '--model', MODEL, ...ARGS, '--job-dir', 'job', '--progress', 'json'], { env, cwd });
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stderr.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ type: 'summary', spend: { currency: 'USD', cacheSaved: null, models: [{ provider: 'kluster', model: MODEL, batch: { requests: 3 }, realtime: { requests: 0 } }] } });
    expect(summary.spend.models[0].batch.promptTokens).toBe(summary.promptTokens);
    expect(summary.spend.models[0].batch.completionTokens).toBe(summary.completionTokens);
    expect(JSON.parse(await readFile(join(cwd, 'job', 'spend.json'), 'utf8'))).toEqual(summary.spend);

    // The same requests again: without the request cache, so they are sent and paid for once more.
    const plain = await runCli(['run', 'in.jsonl', '--model', MODEL, ...ARGS, '--job-dir', 'job2', '--no-cache'], { env, cwd });
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/\ncost (\$|unknown|at least).*\(.*: \d+ prompt \+ \d+ completion tokens in 3 batch requests\)/);
  });

  it('counts --mode realtime answers as realtime requests', async () => {
    const emu = await startEmulator({ seed: 4 });
    started.push(emu);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-spend-'));
    await writeFile(join(cwd, 'in.jsonl'), '{"text":"great, love it"}\n{"text":"awful, broken"}\n');
    const run = await runCli(['run', 'in.jsonl', '--model', MODEL, ...ARGS, '--job-dir', 'job', '--mode', 'realtime', '--progress', 'json'], { env, cwd });
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stderr.trim().split('\n').at(-1)!);
    expect(summary.spend.models[0]).toMatchObject({ batch: { requests: 0 }, realtime: { requests: 2, promptTokens: summary.promptTokens, completionTokens: summary.completionTokens } });
  });

  it('says what the cache saved: spend.cacheSaved in --progress json and spend.json, and the saving beside the cached-row count', async () => {
    const emu = await startEmulator({ seed: 6 });
    started.push(emu);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-run-spend-'));
    await writeFile(join(cwd, 'in.jsonl'), '{"text":"great, love it"}\n{"text":"awful, broken"}\n');
    // Realtime: Llama 3.1 8B has a realtime price on kluster.
    const args = ['run', 'in.jsonl', '--model', MODEL, ...ARGS, '--mode', 'realtime', '--cache-dir', 'cache'];
    const first = await runCli([...args, '--job-dir', 'job', '--progress', 'json'], { env, cwd });
    const paid = JSON.parse(first.stderr.trim().split('\n').at(-1)!);
    const again = await runCli([...args, '--job-dir', 'job2', '--progress', 'json'], { env, cwd });
    const summary = JSON.parse(again.stderr.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ cached: 2, spend: { cost: 0, cacheSaved: paid.spend.cost } });
    expect(summary.spend.cacheSaved).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(join(cwd, 'job2', 'spend.json'), 'utf8'))).toMatchObject({ cacheSaved: paid.spend.cost });
    const text = await runCli([...args, '--job-dir', 'job3'], { env, cwd });
    expect(text.stderr).toMatch(/; 2 answered from the cache \(saving \$[0-9.e-]+ at today's prices\)/);
  });
});
