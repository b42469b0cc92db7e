import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { recordStream, type SourceRecord } from '@kbatch/core';
import { respond, startEmulator, type ChatRequestBody, type Emulator } from '@kbatch/emulator';
import { setTimeout as delay } from 'node:timers/promises';
import { spawnChild, spawnCli } from './job-fixtures.js';
import { runCli } from '../helpers/spawn.js';

const SMALL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LARGE = 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo';
const A = 'Meta-Llama-3.1-8B-Instruct-Turbo';
const B = 'Meta-Llama-3.3-70B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
// --no-cache: each model's batch is really created, so the crash point counts them.
const ARGS = ['--model', SMALL, '--model', LARGE, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--no-cache', '--poll-interval', '50ms'];

// The 70B model calls every negative review neutral: the two models' answers differ.
function responder(body: ChatRequestBody): string {
  const answer = respond(body).content;
  return body.model === LARGE && answer === 'negative' ? 'neutral' : answer;
}

async function csvRows(text: string | Buffer): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  for await (const record of recordStream({ input: Readable.from([Buffer.from(text)]), format: 'csv' }) as AsyncIterable<SourceRecord>) rows.push(record.data as Record<string, string>);
  return rows;
}

describe('kbatch run with several --model', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 5, validationMs: 10, lineMs: 1, finalizingMs: 10, responder });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('resumes a run killed during the second model batch: one batch per model, each record once with both models fields', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-models-cli-'));
    const jobDir = join(root, 'job');
    const out = join(root, 'both.csv');
    const created = emu.stats().batchesCreated;
    // The second batch created is the 70B model's: killed before its id is recorded.
    const crashed = await spawnCli(['run', REVIEWS, ...ARGS, '--output', out, '--job-dir', jobDir], { ...env, KBATCH_TEST_CRASH_AT: 'after-create:2' }, root);
    expect(crashed.signal).toBe('SIGKILL');
    const resumed = await spawnCli(['resume', jobDir, '--poll-interval', '50ms'], env, root);
    expect(resumed.stderr).toContain('records 30: 30 succeeded, 0 failed');
    expect(resumed.stderr).toMatch(new RegExp(`agreement ${A} vs ${B}: kappa 0\\.\\d+`));
    expect(resumed.code).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(2);
    const rows = await csvRows(await readFile(out));
    const source = await csvRows(await readFile(REVIEWS));
    expect(rows.map((r) => r.id)).toEqual(source.map((r) => r.id));
    for (const row of rows) expect(row[`${B}.label`]).toBe(row[`${A}.label`] === 'negative' ? 'neutral' : row[`${A}.label`]);
    const status = await runCli(['status', jobDir, '--offline'], { cwd: root });
    expect(status.stdout).toContain(`model ${A} (${SMALL}):`);
    expect(status.stdout).toContain(`model ${B} (${LARGE}):`);
    expect(status.stdout.match(/total: 30 requests, 30 succeeded/g)).toHaveLength(2);
    const results = await runCli(['results', jobDir], { cwd: root });
    expect(results.code).toBe(1);
    expect(results.stderr).toContain('JOB_NOT_FOUND');
    expect(results.stderr).toContain(`kbatch results ${join(jobDir, 'models', B)}`);
  });

  it('writes JSON Lines on stdout and gives each model and the pair in the JSON summary', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-models-cli-'));
    const run = await runCli(['run', REVIEWS, ...ARGS, '--progress', 'json'], { cwd: root, env });
    expect(run.code).toBe(0);
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(30);
    expect(Object.keys(rows[0]!).slice(0, 5)).toEqual(['id', 'text', 'sentiment', `${A}.custom_id`, `${A}.label`]);
    const summary = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e['type'] === 'summary')!;
    expect(summary).toMatchObject({ records: 30, succeeded: 30, batches: 2 });
    expect((summary['models'] as Array<{ alias: string }>).map((m) => m.alias)).toEqual([A, B]);
    expect(summary['agreement']).toMatchObject([{ a: A, b: B, scored: 30 }]);
  });

  it('refuses the same model twice as bad usage', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-models-cli-'));
    const run = await runCli(['run', REVIEWS, '--model', SMALL, '--model', SMALL, '--prompt', '{{text}}'], { cwd: root, env });
    expect(run.stderr).toContain('OPTION_INVALID');
    expect(run.stderr).toContain('--model');
    expect(run.code).toBe(2);
  });

  it('estimates each model and their total without sending anything (one JSON object per model with --json)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-models-cli-'));
    const created = emu.stats().batchesCreated;
    const text = await runCli(['estimate', REVIEWS, ...ARGS], { cwd: root, env });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`(${SMALL})`);
    expect(text.stdout).toContain(`(${LARGE})`);
    expect(text.stdout).toMatch(/total of 2 models: 60 requests/);
    const json = await runCli(['run', REVIEWS, ...ARGS, '--dry-run', '--json'], { cwd: root, env });
    expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { model: string; requests: number }).model)).toEqual([SMALL, LARGE]);
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('stops on Ctrl-C during the first model join with exit 130 and a hint to resume the whole job, which then completes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-models-cli-'));
    const jobDir = join(root, 'job');
    const child = spawnChild(['run', REVIEWS, ...ARGS, '--job-dir', jobDir, '--output', join(root, 'out.jsonl'), '--progress', 'plain'], { ...env, KBATCH_TEST_HOOKS: '1', KBATCH_TEST_PAUSE_AT: 'run-during-join' }, root);
    let stderr = '';
    child.process.stderr.on('data', (d) => (stderr += d));
    for (let i = 0; i < 2000 && !stderr.includes('paused at run-during-join'); i++) await delay(10);
    child.process.kill('SIGINT');
    const stopped = await child.done;
    expect(stopped.code).toBe(130);
    // The parent, not the model's own job: resuming that alone would not write the combined rows.
    expect(stopped.stderr).toMatch(new RegExp(`kbatch resume ${jobDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const created = emu.stats().batchesCreated;
    const resumed = await runCli(['resume', jobDir, '--progress', 'none'], { cwd: root, env, timeoutMs: 60_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(1);
    const rows = (await readFile(join(root, 'out.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(30);
    expect(rows.every((r) => typeof r[`${A}.label`] === 'string' && typeof r[`${B}.label`] === 'string')).toBe(true);
  });

  it('runs a stratified sample of 12 with gold on both models: each model figures equal kbatch eval on its columns', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-models-cli-'));
    const run = await runCli(['run', REVIEWS, ...ARGS, '--gold', 'sentiment', '--sample', '12', '--stratify', 'sentiment', '--output', 'both.csv', '--progress', 'json'], { cwd: root, env });
    expect(run.code, run.stderr).toBe(0);
    const rows = await csvRows(await readFile(join(root, 'both.csv')));
    expect(rows).toHaveLength(12);
    for (const row of rows) expect([row[`${A}.label`], row[`${B}.label`]].every((l) => typeof l === 'string' && l !== '')).toBe(true);
    const summary = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e['type'] === 'summary')!;
    expect(summary['eval']).toBeUndefined();
    const evaluations = summary['evaluations'] as Record<string, unknown>;
    for (const alias of [A, B]) {
      const evaluated = await runCli(['eval', 'both.csv', '--gold', 'sentiment', '--pred', `${alias}.label`, '--labels', 'positive,negative,neutral', '--json'], { cwd: root });
      expect(evaluated.code, evaluated.stderr).toBe(0);
      expect(evaluations[alias]).toEqual(JSON.parse(evaluated.stdout));
    }
  });
});
