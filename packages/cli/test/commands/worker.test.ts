import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobStep, postgresStore } from '@kbatch/core';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { execFileSync } from 'node:child_process';
import { POSTGRES_SKIP_REASON, postgresBin, startPostgres, type TestPostgres } from '../../../core/test/helpers/postgres.js';
import { runCli, spawnChild, spawnCli } from './job-fixtures.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const RUN = ['run', REVIEWS, '--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--max-requests', '10', '--output-format', 'jsonl', '--concurrency', '1'];
const IDS = Array.from({ length: 30 }, (_, i) => `r${String(i + 1).padStart(2, '0')}`);
// Short slices, leases and maintenance: a killed worker's step goes to another within ~3 s.
const WORKER = ['worker', '--slice', '1s', '--lease', '3s', '--maintenance-interval', '1s', '--retry-delay', '1s', '--poll-interval', '100ms', '--concurrency', '2'];

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

  it('runs the steps of several jobs on a few connections (its steps share one pool and one schema check, and take their locks on reused connections); kbatch wait uses one', async () => {
    const { a, b, storage } = await machines();
    const jobs = ['kb-few-1', 'kb-few-2', 'kb-few-3'];
    for (const job of jobs) expect((await spawnCli([...RUN, '--storage', storage, '--job-id', job, '--detach'], env, a)).code).toBe(0);
    const probe = await postgresStore({ connectionString: pg.url, jobId: 'kb-few-probe', dir: join(storage, 'kb-few-probe') });
    // Connections ended so far (each flushes its count as it ends): the probe's own stays open throughout.
    const sessions = async () => Number((await probe.database.pool.query<{ n: string }>('SELECT sessions AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]!.n);
    try {
      const before = await sessions();
      const worker = spawnChild([...WORKER, '--storage', storage], env, b);
      let log = '';
      worker.process.stderr.on('data', (d) => (log += d));
      while (jobs.some((job) => !new RegExp(`worker: job ${job} \\w+ done`).test(log))) await new Promise((r) => setTimeout(r, 100));
      worker.process.kill('SIGTERM');
      expect((await worker.done).code).toBe(0);
      const steps = log.match(/^worker: job kb-few-\d \w+ \w+/gm) ?? [];
      // 2 pooled connections and, with 2 steps at once, 2 locks and a presence each; a connection per step and lock was ≥ 5 a step.
      expect(steps.length).toBeGreaterThanOrEqual(3);
      expect((await sessions()) - before).toBeLessThanOrEqual(8);
      // A watcher reads the queue on its store's connection: one connection each.
      const watched = await sessions();
      for (const job of jobs) expect((await spawnCli(['wait', job, '--storage', storage], env, a)).code).toBe(0);
      expect((await sessions()) - watched).toBe(jobs.length);
    } finally {
      await probe.close();
    }
  }, 90_000);

  // The issue's target as a test: one job whose workers die one after another at each step, each taken over after the lease.
  // after-create and after-upload-unrecorded: a batch or file exists that the manifest does not name yet (a duplicate would show);
  // worker-before-commit: the step's completion and its next step's queueing are lost together. (after-upload and
  // before-create-sent leave nothing unrecorded: their resume is tested in run-postgres.test.ts.)
  it('finishes a job whose workers are SIGKILLed one after another at upload, create, poll, join and a step commit: one batch per part, every record once and in order', async () => {
    const { a, b, storage } = await machines();
    const input = join(a, 'big.csv');
    const ids = Array.from({ length: 2000 }, (_, i) => `k${i + 1}`);
    await writeFile(input, `id,text\n${ids.map((id, i) => `${id},"review ${i}, ""quoted"" é"`).join('\n')}\n`);
    const jobId = 'kb-kill-chain';
    const created = emu.stats().batchesCreated;
    const detached = await spawnCli(['run', input, ...RUN.slice(2), '--max-requests', '400', '--storage', storage, '--job-id', jobId, '--detach'], env, a);
    expect(detached.stderr).not.toContain('error');
    // Each doomed worker runs alone, so it is the one that takes the job's step (the last one's, after its lease).
    for (const point of ['after-upload-unrecorded', 'after-create', 'during-wait', 'run-during-join', 'worker-before-commit']) {
      const doomed = spawnChild([...WORKER, '--storage', storage], { ...env, KBATCH_TEST_CRASH_AT: point }, b);
      const died = await Promise.race([doomed.done, new Promise<null>((r) => setTimeout(r, 60_000, null))]);
      // A worker left running would take the next steps.
      if (died === null) doomed.process.kill('SIGKILL');
      expect(died?.signal, point).toBe('SIGKILL');
    }
    const others = [spawnChild([...WORKER, '--storage', storage], env, b), spawnChild([...WORKER, '--storage', storage], env, a)];
    try {
      const waited = await spawnCli(['wait', jobId, '--storage', storage], env, a);
      expect(waited.code).toBe(0);
    } finally {
      for (const w of others) w.process.kill('SIGTERM');
    }
    for (const w of others) expect((await w.done).code).toBe(0);
    expect(emu.stats().batchesCreated - created).toBe(5);
    const results = await spawnCli(['results', jobId, '--storage', storage], env, a);
    expect(idsOf(results.stdout)).toEqual(ids);
  }, 240_000);

  it('hands a step back when its worker gets SIGTERM mid-step (exit 0), and another worker finishes the job', async () => {
    const stuck = await startEmulator({ timeScale: 0.001, seed: 42, validationMs: 4_000, lineMs: 0, finalizingMs: 10 });
    try {
      const { a, b, storage } = await machines();
      const slow = { ...env, KLUSTER_BASE_URL: stuck.baseURL };
      expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-sigterm', '--detach'], slow, a)).stderr).not.toContain('error');
      // A long slice: the step is still polling the batches when the signal comes.
      const first = spawnChild([...WORKER, '--slice', '30s', '--storage', storage], slow, b);
      for (let i = 0; i < 400 && stuck.stats().batchesCreated < 3; i++) await new Promise((r) => setTimeout(r, 25));
      first.process.kill('SIGTERM');
      const stopped = await first.done;
      expect(stopped.code).toBe(0);
      expect(stopped.stderr).toMatch(/worker: job kb-sigterm \w+ stopped/);
      expect(await jobStep({ databaseUrl: pg.url, jobId: 'kb-sigterm' })).toMatchObject({ state: 'created' });
      const second = spawnChild([...WORKER, '--storage', storage], slow, a);
      try {
        expect((await spawnCli(['wait', 'kb-sigterm', '--storage', storage], slow, a)).code).toBe(0);
      } finally {
        second.process.kill('SIGTERM');
        await second.done;
      }
      expect(stuck.stats().batchesCreated).toBe(3);
      expect(idsOf((await spawnCli(['results', 'kb-sigterm', '--storage', storage], slow, a)).stdout)).toEqual(IDS);
    } finally {
      await stuck.close();
    }
  }, 90_000);

  it('keeps a step that runs longer than its lease with its worker (renewed, not handed to another), and hands it on once that worker is SIGKILLed', async () => {
    const slow = await startEmulator({ timeScale: 0.001, seed: 44, validationMs: 10_000, lineMs: 0, finalizingMs: 10 });
    try {
      const { a, b, storage } = await machines();
      const envS = { ...env, KLUSTER_BASE_URL: slow.baseURL };
      expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-renew', '--detach'], envS, a)).stderr).not.toContain('error');
      // Alone, with a free slot: an expired step would come back to it, and the job would be found locked.
      const first = spawnChild([...WORKER, '--lease', '2s', '--slice', '6s', '--storage', storage], envS, b);
      let log = '';
      first.process.stderr.on('data', (d) => (log += d));
      while (!/worker: job kb-renew \w+ running/.test(log)) await new Promise((r) => setTimeout(r, 100));
      // Its next step is taken at once; the kill lands in it.
      await new Promise((r) => setTimeout(r, 1_000));
      first.process.kill('SIGKILL');
      await first.done;
      // It ran past its 2 s lease and kept it.
      const ran = /^worker: job kb-renew submit running (\d+) ms/m.exec(log);
      expect(Number(ran?.[1])).toBeGreaterThan(2_000);
      expect(log.split('\n').filter((l) => l.includes('kb-renew')).join('\n')).not.toMatch(/locked|warning|retrying/);
      const second = spawnChild([...WORKER, '--storage', storage], envS, a);
      try {
        expect((await spawnCli(['wait', 'kb-renew', '--storage', storage], envS, a)).code).toBe(0);
      } finally {
        second.process.kill('SIGTERM');
        await second.done;
      }
      expect(slow.stats().batchesCreated).toBe(3);
      expect(idsOf((await spawnCli(['results', 'kb-renew', '--storage', storage], envS, a)).stdout)).toEqual(IDS);
    } finally {
      await slow.close();
    }
  }, 120_000);

  it('stops a step that runs past its lease cap (a download that hangs), hands it back, and the job ends once the download answers: no second batch', async () => {
    const hung = await startEmulator({ timeScale: 0.001, seed: 46, validationMs: 10, lineMs: 0, finalizingMs: 10 });
    try {
      const { a, b, storage } = await machines();
      const envH = { ...env, KLUSTER_BASE_URL: hung.baseURL };
      expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-cap', '--detach'], envH, a)).stderr).not.toContain('error');
      // A result download past the 1 s slice cannot stop midway; the cap is the slice plus 10 leases: 11 s.
      hung.setFaults({ latencyMs: 120_000, routes: ['GET /v1/files/:id/content'] });
      const worker = spawnChild([...WORKER, '--lease', '1s', '--slice', '1s', '--storage', storage], envH, b);
      let log = '';
      worker.process.stderr.on('data', (d) => (log += d));
      try {
        for (let i = 0; i < 600 && !log.includes('taken for hung'); i++) await new Promise((r) => setTimeout(r, 100));
        expect(log).toContain("worker: warning: job kb-cap: its step has run over 11 s, taken for hung: stopping it and handing it back");
        hung.setFaults(null);
        expect((await spawnCli(['wait', 'kb-cap', '--storage', storage], envH, a)).code).toBe(0);
      } finally {
        worker.process.kill('SIGTERM');
        await worker.done;
      }
      // The capped step was handed back (stopped, its state saved), not failed, lost or taken for a lock.
      expect(log).toMatch(/^worker: job kb-cap \w+ stopped \d+ ms/m);
      expect(log).not.toMatch(/kb-cap \w+ (failed|lost|locked)/);
      expect(hung.stats().batchesCreated).toBe(3);
      expect(idsOf((await spawnCli(['results', 'kb-cap', '--storage', storage], envH, a)).stdout)).toEqual(IDS);
    } finally {
      await hung.close();
    }
  }, 120_000);

  it('stops a step whose lease a renewal finds gone (queued again by expiry), logs it, and the job goes on in the one row left', async () => {
    const slow = await startEmulator({ timeScale: 0.001, seed: 45, validationMs: 3_000, lineMs: 0, finalizingMs: 10 });
    try {
      const { a, b, storage } = await machines();
      const envS = { ...env, KLUSTER_BASE_URL: slow.baseURL };
      expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-lost', '--detach'], envS, a)).stderr).not.toContain('error');
      const worker = spawnChild([...WORKER, '--slice', '30s', '--storage', storage], envS, b);
      let log = '';
      worker.process.stderr.on('data', (d) => (log += d));
      try {
        for (let i = 0; i < 400 && slow.stats().batchesCreated < 3; i++) await new Promise((r) => setTimeout(r, 25));
        // What pg-boss's maintenance does to a step past its lease (a worker paused longer than it, say).
        execFileSync(join(postgresBin()!, 'psql'), [pg.url, '-qc', "UPDATE kbatch_boss.job SET state = 'retry', start_after = now() + interval '2 seconds' WHERE singleton_key = 'kb-lost' AND state = 'active'"]);
        expect((await spawnCli(['wait', 'kb-lost', '--storage', storage], envS, a)).code).toBe(0);
      } finally {
        worker.process.kill('SIGTERM');
        await worker.done;
      }
      expect(log).toContain("worker: warning: job kb-lost: its step's lease ran out");
      expect(log).toMatch(/^worker: job kb-lost \w+ lost \d+ ms/m);
      const rows = execFileSync(join(postgresBin()!, 'psql'), [pg.url, '-tAc', "SELECT state FROM kbatch_boss.job WHERE singleton_key = 'kb-lost' AND state <> 'completed'"], { encoding: 'utf8' });
      expect(rows.trim()).toBe('');
      expect(slow.stats().batchesCreated).toBe(3);
      expect(idsOf((await spawnCli(['results', 'kb-lost', '--storage', storage], envS, a)).stdout)).toEqual(IDS);
    } finally {
      await slow.close();
    }
  }, 90_000);

  it('shows and waits on the live step of a job beside a stale row pg-boss failed with retries left (two rows of one job, as an expired step once left)', async () => {
    const { a, b, storage } = await machines();
    expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-stale', '--detach'], env, a)).code).toBe(0);
    execFileSync(join(postgresBin()!, 'psql'), [pg.url, '-qc', `INSERT INTO kbatch_boss.job (name, data, state, retry_limit, retry_count, singleton_key, policy, created_on, completed_on)
      VALUES ('kbatch-job', '{"jobId":"kb-stale"}', 'failed', 10, 0, 'kb-stale', 'stately', now() + interval '1 second', now())`]);
    const queued = await spawnCli(['status', 'kb-stale', '--storage', storage, '--json'], env, a);
    expect(JSON.parse(queued.stdout).step).toMatchObject({ state: 'created' });
    const worker = spawnChild([...WORKER, '--storage', storage], env, b);
    try {
      expect((await spawnCli(['wait', 'kb-stale', '--storage', storage], env, a)).code).toBe(0);
    } finally {
      worker.process.kill('SIGTERM');
      await worker.done;
    }
    expect((await spawnCli(['status', 'kb-stale', '--storage', storage], env, a)).stdout).toContain('workers: completed, step');
  }, 60_000);

  it('continues with a worker a job that another process started from its own directory and was killed: no second batch', async () => {
    const { a, b, storage } = await machines();
    const created = emu.stats().batchesCreated;
    const crashed = await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-handover', '--output', join(a, 'out.jsonl')], { ...env, KBATCH_TEST_CRASH_AT: 'after-create:2' }, a);
    expect(crashed.signal).toBe('SIGKILL');
    // Running the same command with --detach hands it to the workers (the job's rows then go to its storage).
    const detached = await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-handover', '--detach'], env, a);
    expect(detached.code).toBe(0);
    const worker = spawnChild([...WORKER, '--storage', storage], env, b);
    try {
      expect((await spawnCli(['wait', 'kb-handover', '--storage', storage], env, b)).code).toBe(0);
    } finally {
      worker.process.kill('SIGTERM');
      await worker.done;
    }
    expect(emu.stats().batchesCreated - created).toBe(3);
    expect(idsOf((await spawnCli(['results', 'kb-handover', '--storage', storage], env, b)).stdout)).toEqual(IDS);
  }, 90_000);

  it("records a step's error for the job: a worker without an API key fails the step for good, status shows it and wait exits 1", async () => {
    const { a, b, storage } = await machines();
    expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-no-key', '--detach'], env, a)).stderr).not.toContain('error');
    const worker = spawnChild([...WORKER, '--storage', storage], { ...env, KLUSTER_API_KEY: '' }, b);
    try {
      const waited = await spawnCli(['wait', 'kb-no-key', '--storage', storage], env, a);
      expect(waited.code).toBe(1);
      expect(waited.stderr).toContain('workers: failed, step submit: [API_KEY_MISSING]');
    } finally {
      worker.process.kill('SIGTERM');
      await worker.done;
    }
    const status = await spawnCli(['status', 'kb-no-key', '--storage', storage, '--json'], env, a);
    expect(JSON.parse(status.stdout).step).toMatchObject({ state: 'failed', output: { step: 'submit', code: 'API_KEY_MISSING' } });
  }, 90_000);

  it('refuses on the submitting machine, with nothing queued: a bad record (with its row), a cost over --max-cost, --detach without a database, --output with --detach', async () => {
    const { a, storage } = await machines();
    const bad = join(a, 'bad.jsonl');
    await writeFile(bad, '{"id":"x1","text":"ok"}\n{"id":"x2","text":\n');
    const malformed = await runCli(['run', bad, ...RUN.slice(2), '--storage', storage, '--job-id', 'kb-bad', '--detach'], { env, cwd: a });
    expect(malformed.error).toMatchObject({ code: 'RECORD_INVALID' });
    expect(String((malformed.error as Error).message)).toMatch(/^\S*bad\.jsonl:2: invalid JSON/);
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'kb-bad' })).toBeNull();
    const row = { providers: ['kluster'], model: MODEL, mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'https://example.test/kluster', checked: '2026-12-01' };
    await writeFile(join(a, 'prices.json'), JSON.stringify([row]));
    const costly = await runCli([...RUN, '--storage', storage, '--job-id', 'kb-costly', '--detach', '--prices', 'prices.json', '--max-completion-tokens', '5', '--max-cost', '0.0000001'], { env, cwd: a });
    expect(costly.error).toMatchObject({ code: 'BUDGET_EXCEEDED' });
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'kb-costly' })).toBeNull();
    const noDb = await runCli([...RUN, '--detach'], { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL }, cwd: a });
    expect(noDb.error).toMatchObject({ code: 'OPTION_INVALID', field: '--detach' });
    const output = await runCli([...RUN, '--storage', storage, '--job-id', 'kb-out', '--detach', '--output', 'x.jsonl'], { env, cwd: a });
    expect(output.error).toMatchObject({ code: 'OPTION_INVALID', field: '--output' });
    const noWorkerDb = await runCli(['worker'], { env: { KLUSTER_API_KEY: 'k' }, cwd: a });
    expect(noWorkerDb.error).toMatchObject({ code: 'OPTION_INVALID', field: '--database-url' });
  }, 60_000);

  it('exits 3 from wait when records failed, also after the same run --detach is run again on the finished job (its recorded counts)', async () => {
    const failing = await startEmulator({ timeScale: 0.001, seed: 43, validationMs: 10, lineMs: 1, finalizingMs: 10, faults: { lineFailureRate: 0.3, lineFailureStatus: 400 } });
    try {
      const { a, b, storage } = await machines();
      const envF = { ...env, KLUSTER_BASE_URL: failing.baseURL };
      const detach = [...RUN, '--storage', storage, '--job-id', 'kb-partial', '--detach'];
      expect((await spawnCli(detach, envF, a)).code).toBe(0);
      const worker = spawnChild([...WORKER, '--storage', storage], envF, b);
      try {
        const first = await spawnCli(['wait', 'kb-partial', '--storage', storage], envF, a);
        expect(first.code).toBe(3);
        expect((await spawnCli(detach, envF, a)).code).toBe(0);
        const again = await spawnCli(['wait', 'kb-partial', '--storage', storage], envF, a);
        expect(again.code).toBe(3);
      } finally {
        worker.process.kill('SIGTERM');
        await worker.done;
      }
    } finally {
      await failing.close();
    }
  }, 90_000);

  it('never drives a detached job from wait or results: results refuses an unfinished job, Ctrl-C on wait exits 130, a job gone from the queue is reported not queued', async () => {
    const { a, storage } = await machines();
    const created = emu.stats().batchesCreated;
    expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-idle', '--detach'], env, a)).code).toBe(0);
    const results = await spawnCli(['results', 'kb-idle', '--storage', storage], env, a);
    expect(results.code).toBe(1);
    expect(results.stdout).toBe('');
    expect(results.stderr).toContain('error [JOB_NOT_FINISHED]: job kb-idle is not finished: kbatch wait kb-idle');
    const watching = spawnChild(['wait', 'kb-idle', '--storage', storage], env, a);
    await new Promise<void>((r) => watching.process.stderr.on('data', (d: Buffer) => String(d).includes('workers: queued') && r()));
    watching.process.kill('SIGINT');
    const interrupted = await watching.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).not.toContain('internal error');
    // The queue forgets the step (a detach stopped before it queued it, or a row pg-boss removed): wait says so, and drives nothing.
    execFileSync(join(postgresBin()!, 'psql'), [pg.url, '-qc', "DELETE FROM kbatch_boss.job WHERE singleton_key = 'kb-idle'"]);
    const lost = await spawnCli(['wait', 'kb-idle', '--storage', storage], env, a);
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('error [JOB_NOT_QUEUED]: job kb-idle is not queued');
    expect(lost.stderr).toContain('kbatch run … --detach` again');
    expect(emu.stats().batchesCreated).toBe(created);
  }, 60_000);

  it('shows the status of a database job whose answers all came from the cache (no batches): a plain run, and a detached one after wait exits 0', async () => {
    const { a, b, storage } = await machines();
    const plain = (id: string) => [...RUN, '--storage', storage, '--job-id', id, '--output', join(a, `${id}.jsonl`)];
    expect((await spawnCli(plain('kb-warm'), env, a)).code).toBe(0);
    expect((await spawnCli(plain('kb-cached'), env, a)).code).toBe(0);
    const status = await spawnCli(['status', 'kb-cached', '--storage', storage], env, a);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('job kb-cached: finished, no batches: 30 records read, 30 answered from the cache');
    const json = await spawnCli(['status', 'kb-cached', '--storage', storage, '--json'], env, a);
    expect(JSON.parse(json.stdout)).toMatchObject({ jobId: 'kb-cached', phase: 'joined', cached: 30, batches: 0 });
    expect((await spawnCli([...RUN, '--storage', storage, '--job-id', 'kb-cached-detached', '--detach'], env, a)).code).toBe(0);
    const worker = spawnChild([...WORKER, '--storage', storage], env, b);
    try {
      expect((await spawnCli(['wait', 'kb-cached-detached', '--storage', storage], env, a)).code).toBe(0);
    } finally {
      worker.process.kill('SIGTERM');
      await worker.done;
    }
    const detached = await spawnCli(['status', 'kb-cached-detached', '--storage', storage], env, a);
    expect(detached.code).toBe(0);
    expect(detached.stdout).toContain('job kb-cached-detached: finished, no batches: 30 records read, 30 answered from the cache');
    expect(detached.stdout).toContain('workers: completed, step');
  }, 60_000);
});
