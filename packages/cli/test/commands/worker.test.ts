import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobStep } from '@kbatch/core';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../../../core/test/helpers/postgres.js';
import { runCli, spawnChild, spawnCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const RUN = ['run', REVIEWS, '--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--max-requests', '10', '--output-format', 'jsonl', '--concurrency', '1'];
const IDS = Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);
// Short slices, leases and maintenance: a killed worker's step goes to another within ~3 s.
const WORKER = ['worker', '--slice', '1s', '--lease', '3s', '--maintenance-interval', '1s', '--poll-interval', '100ms', '--concurrency', '2'];

// Two "machines": each its own working directory, the same database and storage dir.
const machines = async () => {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-worker-cli-'));
  for (const d of ['a', 'b', 'shared']) await mkdir(join(root, d));
  return { a: join(root, 'a'), b: join(root, 'b'), storage: join(root, 'shared') };
};
const idsOf = (jsonl: string): string[] => jsonl.trim().split('\n').map((l) => String(JSON.parse(l).id));

describe.skipIf(POSTGRES_SKIP_REASON !== null)('kbatch worker and kbatch run --detach', () => {
  let pg: TestPostgres;
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    pg = await startPostgres();
    emu = await startEmulator({ timeScale: 0.001, seed: 41, validationMs: 10, lineMs: 1, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL, KBATCH_DATABASE_URL: pg.url };
  }, 120_000);
  afterAll(async () => {
    await emu?.close();
    await pg?.stop();
  });

  it('detaches a run (its id on stdout, nothing sent), then one worker finishes it: wait exits 0, status shows the done step, results prints every record once in order', async () => {
    const { a, b, storage } = await machines();
    const created = emu.stats().batchesCreated;
    const detached = await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-detached', '--detach'], env, a);
    expect(detached.code).toBe(0);
    expect(detached.stdout).toBe('kb-detached\n');
    expect(detached.stderr).toContain('kbatch wait kb-detached --storage');
    expect(emu.stats().batchesCreated).toBe(created);
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'kb-detached' })).toMatchObject({ state: 'created' });
    const worker = spawnChild([...WORKER, '--storage', storage], env, b);
    try {
      const waited = await spawnCli(['wait', 'kb-detached', '--storage', storage], env, b);
      expect(waited.code).toBe(0);
      const results = await spawnCli(['results', 'kb-detached', '--storage', storage], env, a);
      expect(idsOf(results.stdout)).toEqual(IDS);
      const status = await spawnCli(['status', 'kb-detached', '--storage', storage], env, a);
      expect(status.stdout).toContain('workers: completed, step');
      expect(emu.stats().batchesCreated - created).toBe(3);
    } finally {
      worker.process.kill('SIGTERM');
    }
    const stopped = await worker.done;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toMatch(/worker: job kb-detached \w+ done \d+ ms/);
  }, 90_000);
});
