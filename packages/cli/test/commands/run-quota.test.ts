import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresStore, type PostgresJobStore } from '@kbatch/core';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../../../core/test/helpers/postgres.js';
import { runCli, spawnCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const RUN = ['run', REVIEWS, '--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--max-requests', '10', '--output-format', 'jsonl', '--poll-interval', '50ms'];
const IDS = Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);
const idsOf = (jsonl: string): string[] => jsonl.trim().split('\n').map((l) => String(JSON.parse(l).id));

describe.skipIf(POSTGRES_SKIP_REASON !== null)('kbatch run --max-enqueued-tokens (the quota shared through the database)', () => {
  let pg: TestPostgres;
  // A store of a job of its own, for its pool: the test reads the quota's table through it.
  let probe: PostgresJobStore;
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    pg = await startPostgres();
    probe = await postgresStore({ connectionString: pg.url, jobId: 'kb-probe', dir: join(tmpdir(), 'kb-probe') });
    emu = await startEmulator({ timeScale: 0.001, seed: 61, validationMs: 20, lineMs: 3, finalizingMs: 20 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL, KBATCH_DATABASE_URL: pg.url };
  }, 120_000);
  afterAll(async () => {
    await probe?.close();
    await emu?.close();
    await pg?.stop();
  });
  const dirs = async () => {
    const root = await mkdtemp(join(tmpdir(), 'kbatch-quota-cli-'));
    await mkdir(join(root, 'shared'));
    return { cwd: root, storage: join(root, 'shared') };
  };
  const slotsOf = async (jobId: string) => (await probe.database.pool.query<{ part: string; held: boolean }>('SELECT part, held FROM kbatch.quota_slot WHERE job_id = $1 ORDER BY part', [jobId])).rows;

  it('runs two kbatch run processes one batch at a time when the quota fits one (each part is larger than 1 token: it goes alone)', async () => {
    const { cwd, storage } = await dirs();
    const before = emu.stats();
    const runs = await Promise.all(
      ['kb-quota-a', 'kb-quota-b'].map((id) => spawnCli([...RUN, '--storage', storage, '--job-id', id, '--output', `${id}.jsonl`, '--max-enqueued-tokens', '1', '--progress', 'plain'], env, cwd)),
    );
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(emu.stats().batchesCreated - before.batchesCreated).toBe(6);
    expect(emu.stats().maxActiveBatches).toBe(1);
    for (const id of ['kb-quota-a', 'kb-quota-b']) {
      expect(idsOf(await readFile(join(cwd, `${id}.jsonl`), 'utf8'))).toEqual(IDS);
      expect(await slotsOf(id)).toEqual([]);
    }
    expect(runs.some((r) => r.stderr.includes('waits for the shared quota of kluster/'))).toBe(true);
  }, 90_000);

  for (const point of ['after-quota-slot', 'after-create']) {
    it(`finishes a run SIGKILLed at ${point} with its slot held: the resume creates no second batch and gives the slot back`, async () => {
      const { cwd, storage } = await dirs();
      const id = `kb-quota-${point}`;
      const created = emu.stats().batchesCreated;
      const crashed = await spawnCli([...RUN, '--storage', storage, '--job-id', id, '--output', 'out.jsonl', '--max-enqueued-tokens', '1000000', '--concurrency', '1', '--quiet'], { ...env, KBATCH_TEST_CRASH_AT: point }, cwd);
      expect(crashed.signal).toBe('SIGKILL');
      // Taken before the create's intent: a crash after the create leaves its batch counted.
      expect(await slotsOf(id)).toEqual([{ part: '00001', held: true }]);
      const resumed = await spawnCli(['resume', id, '--storage', storage, '--poll-interval', '50ms', '--max-enqueued-tokens', '1000000', '--quiet'], env, cwd);
      expect(resumed.code).toBe(0);
      expect(emu.stats().batchesCreated - created).toBe(3);
      expect(idsOf(await readFile(join(cwd, 'out.jsonl'), 'utf8'))).toEqual(IDS);
      expect(await slotsOf(id)).toEqual([]);
    }, 90_000);
  }

  it('refuses an invalid --max-enqueued-tokens, and one without a database, before anything is sent (OPTION_INVALID)', async () => {
    const { cwd, storage } = await dirs();
    const created = emu.stats().batchesCreated;
    const invalid = await runCli([...RUN, '--storage', storage, '--job-id', 'kb-quota-bad', '--max-enqueued-tokens=-1'], { env, cwd });
    expect(invalid.error).toMatchObject({ code: 'OPTION_INVALID', message: 'Invalid option `maxEnqueuedTokens`: must be a positive integer, got -1' });
    const noDb = await runCli([...RUN, '--max-enqueued-tokens', '1000'], { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL }, cwd });
    expect(noDb.error).toMatchObject({ code: 'OPTION_INVALID', field: '--max-enqueued-tokens' });
    expect(emu.stats().batchesCreated).toBe(created);
  });
});
