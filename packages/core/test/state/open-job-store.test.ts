import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { openJobStore, redactUrl, type OpenedJobStore } from '../../src/state/open-job-store.js';
import { DirectoryJobStore } from '../../src/state/job-store.js';
import { PostgresJobStore } from '../../src/state/postgres-store.js';
import { runBatchJob, resumeJob } from '../../src/job/batch-job.js';
import { cancelJob, jobStatus } from '../../src/job/job-commands.js';
import { readJobResultEntries } from '../../src/job/read-job-results.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { emulatorClient, writeChunks } from '../job/fixtures.js';

const fast = { pollIntervalMs: 50, retryBaseMs: 10 };

describe('openJobStore', () => {
  it('opens the job directory (resolved against cwd) without a database URL, and refuses neither', async () => {
    const { store, jobId } = await openJobStore({ jobDir: 'job', cwd: '/tmp/somewhere' });
    expect(store).toBeInstanceOf(DirectoryJobStore);
    expect(store.dir).toBe('/tmp/somewhere/job');
    expect(jobId).toBeUndefined();
    expectKbatchError(await catchError(() => openJobStore({})), { code: 'OPTION_INVALID', message: 'must give `jobDir` or `databaseUrl`' });
    expectKbatchError(await catchError(() => openJobStore({ databaseUrl: 'postgres://x@127.0.0.1:1/db', jobId: '../escape' })), { code: 'OPTION_INVALID', field: 'jobId' });
  });

  it("shows a database URL with its password masked, and an unparsable one not at all", () => {
    expect(redactUrl('postgres://u:s%40cret@h:5432/db?sslmode=require')).toBe('postgres://u:***@h:5432/db?sslmode=require');
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
    expect(redactUrl('postgres://u@h/db?password=s3cret&sslmode=require')).toBe('postgres://u@h/db?password=***&sslmode=require');
    expect(redactUrl('not a url :secret@')).toBe('(an unparsable URL)');
  });

  it('is DATABASE_UNAVAILABLE when the database cannot be reached, without the password', async () => {
    const err = await catchError(() => openJobStore({ databaseUrl: 'postgres://u:hunter2-x@127.0.0.1:1/db', jobId: 'kb-1' }));
    expectKbatchError(err, { code: 'DATABASE_UNAVAILABLE', message: 'postgres://u:***@127.0.0.1:1/db' });
    expect(String((err as Error).message)).not.toContain('hunter2');
  });

  it('is DATABASE_UNAVAILABLE, not a hang, when the database accepts the connection but never answers', async () => {
    // A server that takes the TCP connection and says nothing: without a connection timeout the open would wait forever.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as AddressInfo;
      const err = await catchError(() => openJobStore({ databaseUrl: `postgres://u:hunter2-y@127.0.0.1:${port}/db`, jobId: 'kb-1', connectionTimeoutMs: 300 }));
      expectKbatchError(err, { code: 'DATABASE_UNAVAILABLE', message: 'timeout' });
      expect(String((err as Error).message)).not.toContain('hunter2');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe.skipIf(POSTGRES_SKIP_REASON !== null)('openJobStore with a database (a real PostgreSQL server)', () => {
  let pg: TestPostgres;
  let emu: Emulator;
  const opened: OpenedJobStore[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
    emu = await startEmulator({ timeScale: 0.001, seed: 3, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(opened.map((o) => o.close()));
    await emu?.close();
    await pg?.stop();
  });
  const open = async (options: { jobId?: string; storage?: string; cwd?: string }) => {
    const o = await openJobStore({ databaseUrl: pg.url, ...options });
    opened.push(o);
    return o;
  };

  it("names a new job by a fresh id and puts its files under <storage>/<id> (default .kbatch/jobs)", async () => {
    const fresh = await open({ cwd: '/tmp/machine-a' });
    expect(fresh.store).toBeInstanceOf(PostgresJobStore);
    expect(fresh.jobId).toMatch(/^kb-/);
    expect(fresh.store.jobId).toBe(fresh.jobId);
    expect(fresh.store.dir).toBe(`/tmp/machine-a/.kbatch/jobs/${fresh.jobId}`);
    const named = await open({ jobId: 'kb-named', storage: '/mnt/shared', cwd: '/tmp/machine-b' });
    expect(named.store.dir).toBe('/mnt/shared/kb-named');
  });

  it('drives a batch job whose manifest is in the database: status, cancel and resume through the store, by id from another process', async () => {
    // Lines of 5 s each: the cancel finds both batches in flight, even on a loaded machine.
    const stuck = await startEmulator({ timeScale: 1, seed: 4, validationMs: 10, lineMs: 5_000, finalizingMs: 10 });
    try {
      const { dir, root } = await writeChunks(2, 30);
      const storage = join(root, 'shared');
      const first = await open({ storage, cwd: root });
      const client = emulatorClient(stuck.baseURL);
      const started = await runBatchJob({ chunks: [dir], store: first.store, client, wait: false, ...fast });
      expect(started.jobId).toBe(first.jobId);
      expect(started.jobDir).toBe(join(storage, first.jobId!));
      // Data files only: the manifest and the lock are the database's.
      expect((await readdir(first.store.dir)).sort()).toEqual(['chunks']);
      const other = await open({ jobId: first.jobId!, storage, cwd: '/' });
      const status = await jobStatus(other.store.dir, { store: other.store, client });
      expect(status.state).toBe('running');
      expect(status.parts).toHaveLength(2);
      expect(await cancelJob(other.store.dir, { client, store: other.store })).toBe(2);
      expect((await other.store.readManifest()).cancelledAt).toBeDefined();
      const done = await resumeJob(other.store.dir, { client, store: other.store, ...fast });
      expect(done.state).toBe('cancelled');
      expect(stuck.stats().batchesCreated).toBe(2);
    } finally {
      await stuck.close();
    }
  });

  it('runs a batch job to the end through the store and reads every result once', async () => {
    const { dir, ids, root } = await writeChunks(3, 2);
    const { store } = await open({ storage: join(root, 'shared'), cwd: root });
    const summary = await runBatchJob({ chunks: [dir], store, client: emulatorClient(emu.baseURL), ...fast });
    expect(summary.state).toBe('completed');
    const seen: string[] = [];
    for await (const { result } of readJobResultEntries(store.dir, await store.readManifest())) seen.push(result.custom_id);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('stops a batch job whose lock connection died between saving a create intent and sending it (JOB_LOCK_LOST): no batch is created', async () => {
    const { dir, root } = await writeChunks(1, 2);
    const { store } = await open({ storage: join(root, 'shared'), cwd: root });
    const before = emu.stats().batchesCreated;
    // The hook a provider runs just before its create stands in for the moment the holder's connection is cut.
    const client = Object.assign(emulatorClient(emu.baseURL), {
      resolveInputFileId: async (fileId: string) => {
        const killer = new (await import('pg')).default.Client({ connectionString: pg.url });
        await killer.connect();
        await killer.query("SELECT pg_terminate_backend(pid, 30000) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()");
        await killer.end();
        return fileId;
      },
    });
    expectKbatchError(await catchError(() => runBatchJob({ chunks: [dir], store, client, ...fast })), { code: 'JOB_LOCK_LOST' });
    expect(emu.stats().batchesCreated).toBe(before);
    expect((await store.readManifest()).parts[0]!.createStartedAt).toBeDefined();
  });
});
