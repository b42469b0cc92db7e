import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openJobStore } from '@kbatch/core';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../../../core/test/helpers/postgres.js';
import { runCli, spawnChild, spawnCli } from './job-fixtures.js';
import { runCli as runBin } from '../helpers/spawn.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const RUN = ['run', REVIEWS, '--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--max-requests', '10', '--output-format', 'jsonl', '--poll-interval', '50ms', '--concurrency', '1'];
// A pid no process has any more (a finished child's).
const DEAD_PID = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
const IDS = Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);
const CUSTOM_IDS = Array.from({ length: 30 }, (_, i) => `row-${i + 1}`).sort();

// Two "machines": each its own working directory (no job directory shared), the same database and storage dir.
const machines = async () => {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-pg-cli-'));
  for (const d of ['a', 'b', 'shared']) await mkdir(join(root, d));
  return { a: join(root, 'a'), b: join(root, 'b'), storage: join(root, 'shared') };
};
const jobIdOf = (stderr: string): string => /job (\S+) \(state in the database/.exec(stderr)?.[1] ?? '';
const idsOf = (jsonl: string): string[] => jsonl.trim().split('\n').map((l) => String(JSON.parse(l).id));

// Every file under a directory, recursively (to show no state file and no secret is written to the storage).
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

describe.skipIf(POSTGRES_SKIP_REASON !== null)('kbatch run --database-url (a job whose state lives in Postgres)', () => {
  let pg: TestPostgres;
  let emu: Emulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    pg = await startPostgres();
    emu = await startEmulator({ timeScale: 0.001, seed: 31, validationMs: 10, lineMs: 1, finalizingMs: 10 });
    env = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL, KBATCH_DATABASE_URL: pg.url };
  }, 120_000);
  afterAll(async () => {
    await emu?.close();
    await pg?.stop();
  });

  it('runs a job named by its id, then status, results, resume, wait and cancel work from another directory given the same --storage', async () => {
    const { a, b, storage } = await machines();
    const run = await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-named', '--output', 'out.jsonl', '--progress', 'none'], env, a);
    expect(run.code).toBe(0);
    const id = jobIdOf(run.stderr);
    expect(id).toMatch(/^kb-/);
    expect(run.stderr).toContain(`kbatch resume ${id} --storage ${storage}`);
    expect(idsOf(await readFile(join(a, 'out.jsonl'), 'utf8'))).toEqual(IDS);
    // The state is in the database: the job's files are chunks and results only, and nothing is under machine a's .kbatch.
    const files = (await filesUnder(join(storage, id))).map((f) => f.slice(storage.length + id.length + 2));
    expect(files.filter((f) => /(^|\/)(manifest|run)\.json$|job\.lock$/.test(f))).toEqual([]);
    expect(files.some((f) => f.startsWith('chunks/'))).toBe(true);
    expect(await readdir(a)).toEqual(['out.jsonl']);
    const status = await spawnCli(['status', id, '--storage', storage, '--json'], env, b);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId: id, state: 'completed', succeeded: 30 });
    const results = await spawnCli(['results', id, '--storage', storage], env, b);
    expect(results.stdout.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort()).toEqual(CUSTOM_IDS);
    const created = emu.stats().batchesCreated;
    // A finished run resumed rewrites its output where the run sent it, sending nothing.
    const resumed = await spawnCli(['resume', id, '--storage', storage, '--quiet'], env, b);
    expect(resumed.code).toBe(0);
    expect(emu.stats().batchesCreated).toBe(created);
    expect(idsOf(await readFile(join(a, 'out.jsonl'), 'utf8'))).toEqual(IDS);
    const waited = await spawnCli(['wait', id, '--storage', storage, '--progress', 'plain'], env, b);
    expect(waited.code).toBe(0);
    expect(waited.stderr).toContain(`job ${id} completed: 30/30 succeeded`);
    const cancelled = await spawnCli(['cancel', id, '--storage', storage], env, b);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stderr).toContain(`asked 0 batches to cancel; collect partial results with: kbatch resume ${id} (with the same database and --storage)`);
    expect(emu.stats().batchesCreated).toBe(created);
  }, 60_000);

  for (const point of ['after-upload', 'before-create-sent', 'after-create:2', 'during-wait']) {
    it(`finishes a job SIGKILLed at ${point} from another directory: no second batch for a chunk, every record once and in order`, async () => {
      const { a, b, storage } = await machines();
      const created = emu.stats().batchesCreated;
      // The output is on the shared storage too: the resume on machine b writes it where the run was told to.
      const crashed = await spawnCli([...RUN, '--storage', storage, '--job-id', `kb-killed-${point.replace(/\W/g, '-')}`, '--output', join(storage, 'out.jsonl'), '--progress', 'json'], { ...env, KBATCH_TEST_CRASH_AT: point }, a);
      expect(crashed.signal).toBe('SIGKILL');
      // The id is the first event of --progress json: what a scheduler keeps to continue the job elsewhere.
      const first = JSON.parse(crashed.stderr.split('\n')[0]!) as { type: string; jobId: string; jobDir: string };
      expect(first).toMatchObject({ type: 'job-id', jobDir: join(storage, first.jobId) });
      // A temp file a killed writer left in the storage is swept by the resume (the job's state is in the database, not beside it).
      const stale = join(storage, first.jobId, 'chunks', `part-00001.jsonl.${DEAD_PID}.0a1b2c3d.tmp`);
      await writeFile(stale, 'partial');
      const resumed = await spawnCli(['resume', first.jobId, '--storage', storage, '--poll-interval', '50ms', '--quiet'], env, b);
      expect(existsSync(stale)).toBe(false);
      // Only the note that the recorded (emulator) base URL is used: the job's provider was read from the database.
      expect(resumed.stderr.replace(/^note: using the base URL recorded in .*\n/m, '')).toBe('');
      expect(resumed.code).toBe(0);
      expect(emu.stats().batchesCreated - created).toBe(3);
      expect(idsOf(await readFile(join(storage, 'out.jsonl'), 'utf8'))).toEqual(IDS);
    }, 60_000);
  }

  it('saves an input read from stdin into the storage, where a resume from another directory reads it again', async () => {
    const { a, b, storage } = await machines();
    const stdin = IDS.map((id, i) => JSON.stringify({ id, text: `review ${i}` })).join('\n');
    const run = await runBin([...RUN.slice(0, 1), '-', ...RUN.slice(2), '--format', 'jsonl', '--storage', storage, '--job-id', 'kb-stdin', '--output', join(storage, 'out.jsonl'), '--progress', 'none'], { stdin, env, cwd: a, timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    const id = jobIdOf(run.stderr);
    expect((await readdir(join(storage, id))).filter((f) => f.startsWith('input.'))).toHaveLength(1);
    const resumed = await spawnCli(['resume', id, '--storage', storage, '--quiet'], env, b);
    expect(resumed.code).toBe(0);
    expect(idsOf(await readFile(join(storage, 'out.jsonl'), 'utf8'))).toEqual(IDS);
  }, 60_000);

  it('lets only one of two resumes of a job drive it at once (the other gets JOB_LOCKED): one batch per chunk; a timed-out resume says to continue by id', async () => {
    const stuck = await startEmulator({ timeScale: 1, seed: 32, validationMs: 600_000, lineMs: 0, finalizingMs: 10 });
    try {
      const { a, b, storage } = await machines();
      const stuckEnv = { ...env, KLUSTER_BASE_URL: stuck.baseURL };
      const first = spawnChild([...RUN, '--max-requests', '30', '--storage', storage, '--job-id', 'kb-two-resumes', '--output', 'out.jsonl'], stuckEnv, a);
      for (let i = 0; i < 400 && stuck.stats().batchesCreated === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(stuck.stats().batchesCreated).toBe(1);
      first.process.kill('SIGKILL');
      const id = jobIdOf((await first.done).stderr);
      // A stop tells how to continue by the job's id, not by its files' directory.
      const timedOut = await spawnCli(['resume', id, '--storage', storage, '--timeout', '1s', '--quiet'], stuckEnv, b);
      expect(timedOut.stderr).toContain(`continue with: kbatch resume ${id} --storage ${storage}`);
      expect(timedOut.stderr).not.toContain(`kbatch resume ${join(storage, id)}`);
      const resumes = [spawnChild(['resume', id, '--storage', storage, '--quiet'], stuckEnv, a), spawnChild(['resume', id, '--storage', storage, '--quiet'], stuckEnv, b)];
      // The loser exits at once; the winner waits on the stuck batch until killed.
      const loser = await Promise.race(resumes.map((r) => r.done));
      expect(loser.code).toBe(1);
      expect(loser.stderr).toContain('JOB_LOCKED');
      for (const r of resumes) r.process.kill('SIGKILL');
      await Promise.all(resumes.map((r) => r.done));
      expect(stuck.stats().batchesCreated).toBe(1);
    } finally {
      await stuck.close();
    }
  }, 60_000);

  it("never writes the database URL's password to stderr, output, storage files or the job's state; a bad URL is DATABASE_UNAVAILABLE without it", async () => {
    const { a, b, storage } = await machines();
    // The test server trusts any password: the URL carries one that must not leak anywhere.
    const secret = 'pw-Sekr3t-9931';
    const url = pg.url.replace('postgres@', `postgres:${secret}@`);
    const withUrl = { ...env, KBATCH_DATABASE_URL: '' };
    const run = await spawnCli([...RUN, '--database-url', url, '--storage', storage, '--output', 'out.jsonl', '--progress', 'plain', '--job-id', 'kb-secret-test'], withUrl, a);
    expect(run.code).toBe(0);
    const status = await spawnCli(['status', 'kb-secret-test', '--database-url', url, '--storage', storage], withUrl, b);
    expect(status.code).toBe(0);
    expect(run.stderr + run.stdout + status.stdout + status.stderr).not.toContain(secret);
    for (const file of await filesUnder(storage)) expect(await readFile(file, 'utf8'), file).not.toContain(secret);
    for (const file of await filesUnder(a)) expect(await readFile(file, 'utf8'), file).not.toContain(secret);
    const { store, close } = await openJobStore({ databaseUrl: pg.url, jobId: 'kb-secret-test', storage });
    try {
      expect(JSON.stringify(await store.readManifest()) + JSON.stringify(await store.readRunState())).not.toContain(secret);
    } finally {
      await close();
    }
    const refused = await runCli(['status', 'kb-secret-test', '--database-url', `postgres://postgres:${secret}@127.0.0.1:1/postgres`, '--storage', storage], { env: { KLUSTER_API_KEY: 'k' }, cwd: b });
    expect((refused.error as { code?: string }).code).toBe('DATABASE_UNAVAILABLE');
    expect(String((refused.error as Error).message)).toContain('postgres://postgres:***@127.0.0.1:1/postgres');
    expect(String((refused.error as Error).message)).not.toContain(secret);
  }, 60_000);

  it('refuses a database without --storage, and a run in it without --job-id, before anything is sent (OPTION_INVALID)', async () => {
    const { a, storage } = await machines();
    const created = emu.stats().batchesCreated;
    const noStorage = await runCli(['status', 'kb-named'], { env, cwd: a });
    expect(noStorage.error).toMatchObject({ code: 'OPTION_INVALID', field: '--storage' });
    const noId = await runCli([...RUN, '--storage', storage], { env, cwd: a });
    expect(noId.error).toMatchObject({ code: 'OPTION_INVALID', field: '--job-id' });
    expect(emu.stats().batchesCreated).toBe(created);
  });

  it('refuses --storage and --job-id without a database, and --job-dir with one (OPTION_INVALID)', async () => {
    const { a } = await machines();
    const noDb = { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL };
    const storage = await runCli(['status', 'job', '--storage', 'x'], { env: noDb, cwd: a });
    expect(storage.error).toMatchObject({ code: 'OPTION_INVALID', field: '--storage' });
    const jobId = await runCli([...RUN, '--job-id', 'kb-1'], { env: noDb, cwd: a });
    expect(jobId.error).toMatchObject({ code: 'OPTION_INVALID', field: '--job-id' });
    const jobDir = await runCli([...RUN, '--job-dir', 'job'], { env, cwd: a });
    expect(jobDir.error).toMatchObject({ code: 'OPTION_INVALID', field: '--job-dir' });
  });
});
