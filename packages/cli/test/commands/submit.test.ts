import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli, writeChunks } from './job-fixtures.js';

describe('kbatch submit / wait / status / results / cancel', () => {
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 7, validationMs: 10, lineMs: 0, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'secret-test-key', KLUSTER_BASE_URL: emu.baseURL };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('submits chunks, prints the job dir, waits and streams every result once', async () => {
    const { root, dir, ids } = await writeChunks(2, 5);
    const submit = await runCli(['submit', dir, '--quiet'], { env, cwd: root });
    expect(submit.code).toBe(0);
    const jobDir = submit.stdout.trim();
    expect(jobDir).toContain(join(root, '.kbatch', 'jobs', 'kb-'));
    const wait = await runCli(['wait', jobDir, '--poll-interval', '50ms', '--progress', 'plain'], { env, cwd: root });
    expect(wait.code).toBe(0);
    expect(wait.stderr).toContain('progress: ');
    expect(wait.stderr).toMatch(/job kb-\S+ completed: 10\/10 succeeded/);
    expect(wait.stderr + submit.stderr).not.toContain('secret-test-key');
    const manifest = await readFile(join(jobDir, 'manifest.json'), 'utf8');
    expect(manifest).not.toContain('secret-test-key');
    const results = await runCli(['results', jobDir], { env, cwd: root });
    const got = results.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort();
    expect(got).toEqual([...ids].sort());
    expect((await runCli(['results', jobDir, '--succeeded'], { env, cwd: root })).stdout.trim().split('\n')).toHaveLength(10);
    expect((await runCli(['results', jobDir, '--failed'], { env, cwd: root })).stdout).toBe('');
    const status = await runCli(['status', jobDir, '--json'], { env, cwd: root });
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'completed', succeeded: 10 });
    const table = await runCli(['status', jobDir], { env, cwd: root });
    expect(table.stdout).toMatch(/00002\s+chunk\s+\S+\s+completed\s+5\s+5\s+0/);
  });

  it('submits and waits in one go with --wait, JSON progress lines on stderr', async () => {
    const { root, dir } = await writeChunks(1, 3);
    const run = await runCli(['submit', dir, '--wait', '--job-dir', 'job', '--poll-interval', '50ms', '--progress', 'json'], { env, cwd: root });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(join(root, 'job'));
    const lines = run.stderr.trim().split('\n');
    expect(lines.every((l) => l.startsWith('{')), run.stderr).toBe(true);
    const events = lines.map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['job', 'uploaded', 'created', 'progress', 'finished']));
    expect(events.at(-1)).toMatchObject({ type: 'summary', state: 'completed', succeeded: 3, jobDir: join(root, 'job') });
  });

  it('exits 3 and names the failing lines when a batch fails validation', async () => {
    const { root, dir } = await writeChunks(1, 2);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'part-00001.jsonl'), '{"custom_id":"x1","method":"POST","url":"/v1/nope","body":{}}\n', { flag: 'a' });
    const run = await runCli(['submit', dir, '--wait', '--poll-interval', '50ms', '--progress', 'none'], { env, cwd: root });
    expect(run.code).toBe(3);
    // The request's line in its chunk file and its custom_id (which names the input row).
    expect(run.stderr).toMatch(/part 00001 line 3 \(custom_id x1\): \S+: /);
    expect(run.stderr).toContain('[BATCH_FAILED]');
    const status = await runCli(['status', run.stdout.trim()], { env: {}, cwd: root });
    expect(status.stderr).toContain('no API key');
    expect(status.stdout).toContain('failed');
  });

  it('with --quiet still prints the job directory at once and the failure report', async () => {
    const { root, dir } = await writeChunks(1, 2);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'part-00001.jsonl'), '{"custom_id":"x1","method":"POST","url":"/v1/nope","body":{}}\n', { flag: 'a' });
    const run = await runCli(['submit', dir, '--wait', '--job-dir', 'job', '--poll-interval', '50ms', '--quiet'], { env, cwd: root });
    expect(run.code).toBe(3);
    expect(run.stdout).toBe(`${join(root, 'job')}\n`);
    expect(run.stderr).toContain('line 3 (custom_id x1)');
    expect(run.stderr).not.toContain('progress:');
  });

  it('prints the job directory even when the job then fails', async () => {
    const { root, dir } = await writeChunks(1, 2);
    const run = await runCli(['submit', dir, '--job-dir', 'job', '--quiet'], { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' }, cwd: root });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`${join(root, 'job')}\n`);
  });

  it('fails with API_KEY_MISSING naming KLUSTER_API_KEY', async () => {
    const { root, dir } = await writeChunks(1, 1);
    const run = await runCli(['submit', dir], { env: {}, cwd: root });
    expect(run.code).toBe(1);
    expect(String((run.error as Error).message)).toContain('KLUSTER_API_KEY');
    expect((run.error as { code?: string }).code).toBe('API_KEY_MISSING');
  });

  it('cancels a job and collects the partial output on resume', async () => {
    const slow = await startEmulator({ timeScale: 0.01, seed: 8, validationMs: 10, lineMs: 20, finalizingMs: 10 });
    try {
      const slowEnv = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: slow.baseURL };
      const { root, dir } = await writeChunks(1, 40);
      const submit = await runCli(['submit', dir, '--quiet'], { env: slowEnv, cwd: root });
      const jobDir = submit.stdout.trim();
      const cancel = await runCli(['cancel', jobDir], { env: slowEnv, cwd: root });
      expect(cancel.stderr).toContain('asked 1 batch to cancel');
      const resume = await runCli(['resume', jobDir, '--poll-interval', '50ms', '--quiet'], { env: slowEnv, cwd: root });
      expect(resume.code).toBe(3);
      const status = await runCli(['status', jobDir, '--json', '--offline'], { cwd: root });
      expect(JSON.parse(status.stdout)).toMatchObject({ state: 'cancelled' });
    } finally {
      await slow.close();
    }
  });

  it('rejects a bad --poll-interval with OPTION_INVALID', async () => {
    const run = await runCli(['wait', 'nowhere', '--poll-interval', 'soon'], { env });
    expect((run.error as { code?: string }).code).toBe('OPTION_INVALID');
  });
});
