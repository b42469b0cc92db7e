import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli, spawnChild, spawnCli, writeChunks } from './job-fixtures.js';

// Crash tests: a real kbatch process SIGKILLs itself at a named point (KBATCH_TEST_CRASH_AT, test-only),
// then `kbatch resume` must finish the job without paying twice: batches created == parts, each result once.
describe('kbatch resume after a crash', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 11, validationMs: 20, lineMs: 2, finalizingMs: 20 });
  });
  afterAll(async () => {
    await emu.close();
  });

  const points = ['after-upload', 'after-create', 'after-create:2', 'during-wait', 'during-download', 'after-file-delete'];
  for (const point of points) {
    it(`finishes a job killed at ${point} with one batch per chunk and every result once`, async () => {
      const { root, dir, ids } = await writeChunks(3, 4);
      const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
      const created = emu.stats().batchesCreated;
      const jobDir = join(root, 'job');
      const crashed = await spawnCli(
        ['submit', dir, '--wait', '--job-dir', jobDir, '--poll-interval', '50ms', '--concurrency', '1', '--quiet'],
        { ...env, KBATCH_TEST_CRASH_AT: point },
        root,
      );
      expect(crashed.signal).toBe('SIGKILL');
      const resumed = await spawnCli(['resume', jobDir, '--poll-interval', '50ms', '--progress', 'plain'], env, root);
      expect(resumed.stderr).toMatch(/completed: 12\/12 succeeded/);
      expect(resumed.code).toBe(0);
      if (point.startsWith('after-create')) expect(resumed.stderr).toContain('adopted');
      expect(emu.stats().batchesCreated - created).toBe(3);
      const results = await runCli(['results', jobDir], { cwd: root });
      const got = results.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id);
      expect(got.sort()).toEqual([...ids].sort());
      const manifest = JSON.parse(await readFile(join(jobDir, 'manifest.json'), 'utf8'));
      expect(manifest.parts.every((p: { done: boolean }) => p.done)).toBe(true);
      expect(manifest.parts.every((p: { fileDeletedAt?: string }) => p.fileDeletedAt)).toBe(true);
    });
  }

  it('finishes a job killed while three expired batches are resubmitted at once: every record once, no duplicate batch', async () => {
    const { root, dir, ids } = await writeChunks(3, 6);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const created = emu.stats().batchesCreated;
    const jobDir = join(root, 'job');
    emu.setFaults({ expireAfterLines: 2 });
    try {
      const crashed = await spawnCli(
        ['submit', dir, '--wait', '--job-dir', jobDir, '--poll-interval', '50ms', '--concurrency', '3', '--quiet'],
        { ...env, KBATCH_TEST_CRASH_AT: 'after-resubmit-part:2' },
        root,
      );
      expect(crashed.signal).toBe('SIGKILL');
    } finally {
      emu.setFaults(null);
    }
    const resumed = await spawnCli(['resume', jobDir, '--poll-interval', '50ms', '--concurrency', '3', '--progress', 'plain'], env, root);
    expect(resumed.stderr).toMatch(/completed: 18\/18 succeeded/);
    expect(resumed.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(jobDir, 'manifest.json'), 'utf8')) as { parts: Array<{ index: string; kind: string; done: boolean }> };
    // A resubmit batch created before the kill may expire again (the fault was on): more parts, never a duplicate batch.
    expect(manifest.parts.filter((p) => p.kind === 'resubmit').length).toBeGreaterThanOrEqual(3);
    expect(new Set(manifest.parts.map((p) => p.index)).size).toBe(manifest.parts.length);
    expect(emu.stats().batchesCreated - created).toBe(manifest.parts.length);
    const results = await runCli(['results', jobDir], { cwd: root });
    expect(results.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort()).toEqual([...ids].sort());
  });

  it('deletes on resume the input file a kill between the upload and its record left on the server, and every input file once done', async () => {
    const { root, dir, ids } = await writeChunks(3, 4);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const created = emu.stats().batchesCreated;
    const jobDir = join(root, 'job');
    const crashed = await spawnCli(
      ['submit', dir, '--wait', '--job-dir', jobDir, '--poll-interval', '50ms', '--concurrency', '1', '--quiet'],
      { ...env, KBATCH_TEST_CRASH_AT: 'after-upload-unrecorded' },
      root,
    );
    expect(crashed.signal).toBe('SIGKILL');
    const { jobId } = JSON.parse(await readFile(join(jobDir, 'manifest.json'), 'utf8')) as { jobId: string };
    const jobFiles = async () => {
      const names: string[] = [];
      for await (const f of new OpenAI({ apiKey: 'k', baseURL: emu.baseURL }).files.list({ purpose: 'batch' })) if (f.filename.startsWith(`${jobId}-part-`)) names.push(f.id);
      return names;
    };
    expect(await jobFiles()).toHaveLength(1);
    const resumed = await spawnCli(['resume', jobDir, '--poll-interval', '50ms', '--progress', 'plain'], env, root);
    expect(resumed.stderr).toMatch(/completed: 12\/12 succeeded/);
    expect(resumed.stderr).toMatch(/deleted 1 input file\(s\) left on the server by an interrupted upload/);
    expect(resumed.code).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(3);
    expect(await jobFiles()).toEqual([]);
    const results = await runCli(['results', jobDir], { cwd: root });
    expect(results.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort()).toEqual([...ids].sort());
  });

  it('warns when expired requests reach --max-resubmits and exits 3', async () => {
    const { root, dir } = await writeChunks(1, 4);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    emu.setFaults({ expireAfterLines: 2 });
    let run;
    try {
      run = await spawnCli(['submit', dir, '--wait', '--job-dir', join(root, 'job'), '--poll-interval', '50ms', '--max-resubmits', '0', '--progress', 'plain'], env, root);
    } finally {
      emu.setFaults(null);
    }
    expect(run.stderr).toContain('warning (part 00001): 2 requests expired once; not resubmitted (limit --max-resubmits 0)');
    expect(run.code).toBe(3);
  });

  it('keeps the input files with --keep-files and validates --max-resubmits', async () => {
    const { root, dir } = await writeChunks(2, 2);
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const jobDir = join(root, 'job');
    const bad = await runCli(['submit', dir, '--job-dir', join(root, 'bad'), '--max-resubmits', '-1', '--quiet'], { env, cwd: root });
    expect((bad.error as { code?: string }).code).toBe('OPTION_INVALID');
    expect(String((bad.error as Error).message)).toContain('maxResubmits');
    const kept = await spawnCli(['submit', dir, '--wait', '--job-dir', jobDir, '--poll-interval', '50ms', '--keep-files', '--quiet'], env, root);
    expect(kept.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(jobDir, 'manifest.json'), 'utf8')) as { parts: Array<{ fileId: string }> };
    const client = new OpenAI({ apiKey: 'k', baseURL: emu.baseURL });
    for (const p of manifest.parts) expect((await client.files.retrieve(p.fileId)).id).toBe(p.fileId);
  });

  it('stops on Ctrl-C with exit 130, prints how to resume, and resume finishes the job', async () => {
    const slow = await startEmulator({ timeScale: 0.01, seed: 13, validationMs: 10, lineMs: 20, finalizingMs: 10 });
    try {
      const { root, dir, ids } = await writeChunks(2, 10);
      const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: slow.baseURL };
      const jobDir = join(root, 'job');
      const child = spawnChild(['submit', dir, '--wait', '--job-dir', jobDir, '--poll-interval', '50ms', '--quiet'], env, root);
      for (let i = 0; i < 200 && slow.stats().batchesCreated < 2; i++) await new Promise((r) => setTimeout(r, 25));
      child.process.kill('SIGINT');
      const interrupted = await child.done;
      expect(interrupted.code).toBe(130);
      expect(interrupted.stderr).toContain(`kbatch resume ${jobDir}`);
      const resumed = await spawnCli(['resume', jobDir, '--poll-interval', '50ms', '--quiet'], env, root);
      expect(resumed.code).toBe(0);
      expect(slow.stats().batchesCreated).toBe(2);
      const results = await runCli(['results', jobDir], { cwd: root });
      expect(results.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort()).toEqual([...ids].sort());
    } finally {
      await slow.close();
    }
  });

  it('refuses a second process on a live job with JOB_LOCKED', async () => {
    // The batch never leaves validation, so the first process holds the lock until it is killed.
    const stuck = await startEmulator({ timeScale: 1, seed: 12, validationMs: 600_000, lineMs: 0, finalizingMs: 10 });
    try {
      const { root, dir } = await writeChunks(1, 2);
      const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: stuck.baseURL };
      const jobDir = join(root, 'job');
      const first = spawnChild(['submit', dir, '--wait', '--job-dir', jobDir, '--poll-interval', '50ms', '--quiet'], env, root);
      for (let i = 0; i < 400 && stuck.stats().batchesCreated === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(stuck.stats().batchesCreated).toBe(1);
      const second = await runCli(['resume', jobDir, '--quiet'], { env, cwd: root });
      expect((second.error as { code?: string }).code).toBe('JOB_LOCKED');
      first.process.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
    } finally {
      await stuck.close();
    }
  });
  it('prices a run killed after it was given --prices with those rows on resume (spend.json), and takes --prices again when given', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-resume-prices-'));
    await writeFile(join(root, 'in.csv'), 'id,text\nr1,good\nr2,bad\nr3,"fine, really"\n');
    const row = { providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'https://example.test/kluster-batch', checked: '2026-12-01' };
    await writeFile(join(root, 'prices.json'), JSON.stringify([row]));
    await writeFile(join(root, 'other.json'), JSON.stringify([{ ...row, inputPerMTok: 1, outputPerMTok: 1, source: 'https://example.test/other' }]));
    const env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const args = ['run', 'in.csv', '--model', row.model, '--prompt', '{{text}}', '--max-completion-tokens', '5', '--no-cache', '--prices', 'prices.json', '--job-dir', 'job', '--output', 'out.jsonl', '--poll-interval', '20ms', '--quiet'];
    const crashed = await spawnCli(args, { ...env, KBATCH_TEST_CRASH_AT: 'run-after-prepare' }, root);
    expect(crashed.signal).toBe('SIGKILL');
    // The file's rows are kept in the run's settings: moving the file away does not matter.
    await rm(join(root, 'prices.json'));
    const resumed = await spawnCli(['resume', 'job', '--no-cache', '--poll-interval', '20ms', '--quiet'], env, root);
    expect(resumed.code, resumed.stderr).toBe(0);
    const spend = JSON.parse(await readFile(join(root, 'job', 'spend.json'), 'utf8'));
    expect(spend).toMatchObject({ cost: expect.any(Number), prices: { source: 'https://example.test/kluster-batch', checked: '2026-12-01' } });
    expect(spend.cost).toBeGreaterThan(0);
    const again = await spawnCli(['resume', 'job', '--no-cache', '--prices', 'other.json', '--quiet'], env, root);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(root, 'job', 'spend.json'), 'utf8'))).toMatchObject({ prices: { source: 'https://example.test/other' } });
  });
});
