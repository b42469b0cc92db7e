import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Pool } from 'pg';
import { openPostgresDatabase, postgresStore, type PostgresJobLock, type PostgresJobStore } from '../../src/state/postgres-store.js';
import { migrateStateSchema, STATE_MIGRATIONS } from '../../src/state/postgres-schema.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { POSTGRES_SKIP_REASON, startPostgresOrReason, type TestPostgres } from '../helpers/postgres.js';
import { jobStoreContract, sampleManifest, sampleRunState } from './job-store-contract.js';

describe.skipIf(POSTGRES_SKIP_REASON !== null)('postgresStore (a real PostgreSQL server)', () => {
  let server: TestPostgres;
  let pool: Pool;
  let jobs = 0;
  const stores: PostgresJobStore[] = [];
  // Why the server could not start here (binaries present): each test skips with it.
  let unavailable: string | undefined;
  beforeAll(async () => {
    const started = await startPostgresOrReason();
    if (typeof started === 'string') {
      unavailable = started;
      return;
    }
    server = started;
    pool = new (await import('pg')).default.Pool({ connectionString: server.url });
    // The lock test kills a backend: an idle client of this pool may be among those told.
    pool.on('error', () => {});
  }, 120_000);
  beforeEach((context) => {
    if (unavailable !== undefined) context.skip(unavailable);
  });
  afterAll(async () => {
    // The server stops whatever closing the stores or the pool throws.
    try {
      await Promise.all(stores.map((s) => s.close()));
      await pool?.end();
    } finally {
      await server?.stop();
    }
  });
  // A store on a job of its own (several stores on one job stand for several processes).
  const open = async (jobId = `kb-${++jobs}`, schema = 'kbatch') => {
    const store = await postgresStore({ connectionString: server.url, jobId, dir: `/shared/${jobId}`, schema });
    stores.push(store);
    return store;
  };

  jobStoreContract('postgresStore', async () => {
    const store = await open();
    return {
      store,
      corrupt: async (what) => void (await pool.query(`UPDATE kbatch.job SET ${what === 'manifest' ? 'manifest' : 'run_state'} = '{"version": 1' WHERE id = $1`, [store.jobId])),
      cleanup: async () => void (await pool.query('DELETE FROM kbatch.job WHERE id = $1', [store.jobId])),
    };
  });

  it('creates its versioned schema itself, once, even when processes open it at the same time', async () => {
    const opened = await Promise.all([1, 2, 3].map(() => open('kb-race', 'kbatch_race')));
    const { rows } = await pool.query('SELECT version FROM kbatch_race.schema_version ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(STATE_MIGRATIONS.map((_, i) => i + 1));
    expect(await migrateStateSchema(pool, 'kbatch_race')).toBe(STATE_MIGRATIONS.length);
    expect(opened[2]!.dir).toBe('/shared/kb-race');
  });

  it('refuses a schema a newer kbatch migrated after this process did (a long-lived worker on a shared pool)', async () => {
    const db = await openPostgresDatabase(server.url, { max: 2 });
    try {
      const onShared = (jobId: string) => postgresStore({ pool: db.pool, sessions: db.sessions, jobId, dir: `/shared/${jobId}`, schema: 'kbatch_upgraded' });
      await (await onShared('kb-before')).close();
      await pool.query('INSERT INTO kbatch_upgraded.schema_version (version) VALUES (999)');
      expectKbatchError(await catchError(() => onShared('kb-after')), { code: 'STATE_SCHEMA_NEWER', message: 'version 999' });
    } finally {
      await db.close();
    }
  });

  it('survives a lock connection that drops while its release is unlocking it', async () => {
    const uncaught: unknown[] = [];
    const hear = (error: unknown) => void uncaught.push(error);
    process.on('uncaughtException', hear);
    try {
      const store = await open();
      const lock = await store.lock();
      // pg's internals: the one session connection's socket, reset while pg_advisory_unlock_all is in flight.
      const sessions = store.database.sessions as unknown as { _clients: { connection: { stream: { destroy(error?: Error): void } } }[] };
      const released = lock.release();
      sessions._clients[0]!.connection.stream.destroy(new Error('read ECONNRESET'));
      await released;
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off('uncaughtException', hear);
    }
    expect(uncaught).toEqual([]);
  });

  it('refuses a schema migrated by a newer kbatch with STATE_SCHEMA_NEWER, and a schema name unsafe in SQL with OPTION_INVALID', async () => {
    await migrateStateSchema(pool, 'kbatch_newer');
    await pool.query('INSERT INTO kbatch_newer.schema_version (version) VALUES (999)');
    expectKbatchError(await catchError(() => open('kb-x', 'kbatch_newer')), { code: 'STATE_SCHEMA_NEWER', message: 'version 999' });
    expectKbatchError(await catchError(() => open('kb-x', 'x"; DROP TABLE y; --')), { code: 'OPTION_INVALID', field: 'schema' });
    expectKbatchError(await catchError(() => postgresStore({ jobId: 'kb-x', dir: '/d' })), { code: 'OPTION_INVALID', message: 'exactly one of `pool` and `connectionString`' });
  });

  it('lets only one of two processes record the same create (compare-and-set): the other gets STATE_CONFLICT and writes nothing', async () => {
    const [a, b] = [await open('kb-cas'), await open('kb-cas')];
    const created = await Promise.allSettled([a, b].map((s, i) => s.writeManifest({ ...sampleManifest(), window: `${i + 1}h` })));
    expect(created.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expectKbatchError(created.find((r) => r.status === 'rejected')!.reason, { code: 'STATE_CONFLICT' });
    const winner = (await a.readManifest()).window;
    // Both read the same state; the first to record a batch id wins, the second is refused (it would create twice).
    await b.readManifest();
    const recorded = (store: PostgresJobStore, batchId: string) => store.writeManifest({ ...sampleManifest(), window: winner, parts: [{ ...sampleManifest().parts[0]!, batchId }] });
    await recorded(a, 'batch-a');
    expectKbatchError(await catchError(() => recorded(b, 'batch-b')), { code: 'STATE_CONFLICT', message: 'changed by another process' });
    expect((await b.readManifest()).parts[0]!.batchId).toBe('batch-a');
    await recorded(b, 'batch-a');
    expect(await a.hasManifest()).toBe(true);
  });

  it('releases the locks still held through a store when it is closed', async () => {
    const [a, b] = [await postgresStore({ connectionString: server.url, jobId: 'kb-close', dir: '/d' }), await open('kb-close')];
    await a.lock();
    await a.lock('run');
    await a.close();
    await (await b.lock()).release();
    await (await b.lock('run')).release();
  });

  it('keeps the state across processes: another pool reads the manifest, run state, answers and cancel request', async () => {
    const writer = await open('kb-shared');
    await writer.writeManifest(sampleManifest());
    await writer.writeRunState(sampleRunState());
    const { log } = await writer.openAnswersLog('realtime/answers-00001.jsonl');
    await log.append({ id: 'r', custom_id: 'row-1', response: { status_code: 200, body: { text: 'é \u0000 "q"' } }, error: null });
    await log.close();
    const at = await writer.requestCancel();
    const reader = await open('kb-shared');
    expect(await reader.readManifest()).toEqual(sampleManifest());
    expect((await reader.readRunState())!.kind).toBe('kbatch-run');
    const again = await reader.openAnswersLog('realtime/answers-00001.jsonl');
    expect((await again.log.read(again.answered.get('row-1')!)).response!.body).toEqual({ text: 'é \u0000 "q"' });
    await again.log.close();
    expect(await reader.cancelRequested()).toBe(at);
  });

  it('frees a lock whose holder died (its connection ended), as a crashed process frees a lock file', async () => {
    const [a, b] = [await open('kb-lock'), await open('kb-lock')];
    const held = await a.lock();
    expectKbatchError(await catchError(() => b.lock()), { code: 'JOB_LOCKED' });
    // The holder's backend is killed, as when its process is SIGKILLed: the server drops its session locks.
    // pg_terminate_backend(pid, timeout) waits until the backend is gone (its locks with it).
    const killed = await pool.query("SELECT pg_terminate_backend(pid, 30000) AS gone FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()");
    expect(killed.rows.map((r) => r.gone)).toEqual([true]);
    await (await b.lock()).release();
    // Releasing the dead holder's lock drops its connection and does not throw.
    await held.release();
  });
  it('takes locks in turn on one connection: a released lock leaves no advisory lock on it, and a lost one is not reused', async () => {
    const [a, b] = [await open('kb-reuse'), await open('kb-reuse')];
    const holder = async () => (await pool.query<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()")).rows.map((r) => r.pid);
    const first = await a.lock();
    const [pid] = await holder();
    await first.release();
    expect(await holder()).toEqual([]);
    // Free for another process at once, and the same connection serves this store's next locks.
    await (await b.lock()).release();
    const second = await a.lock('run');
    expect(await holder()).toEqual([pid]);
    await pool.query('SELECT pg_terminate_backend($1, 30000)', [pid]);
    await second.release();
    const third = await a.lock('run');
    const [fresh] = await holder();
    expect(fresh).not.toBe(pid);
    expect(third.lost).toBe(false);
    await third.release();
  });

  it('shares the caller\'s pools between stores: one schema check for the pool, and locks of several jobs on its session connections', async () => {
    const { openPostgresDatabase } = await import('../../src/state/postgres-store.js');
    const database = await openPostgresDatabase(server.url);
    try {
      const checks = vi.spyOn(database.pool, 'connect');
      const stores = await Promise.all([1, 2, 3].map((i) => postgresStore({ pool: database.pool, sessions: database.sessions, jobId: `kb-db-${i}`, dir: '/d' })));
      // The schema check takes a client with connect() (pool.query calls connect with a callback): once for the pool.
      expect(checks.mock.calls.filter((args) => args.length === 0)).toHaveLength(1);
      for (const store of stores) await (await store.lock()).release();
      expect(database.sessions.totalCount).toBe(1);
      await Promise.all(stores.map((store) => store.close()));
      // Closing a store leaves the caller's pools open.
      expect((await database.pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('refuses to save a stale copy of the manifest read before another process wrote, even after reading the fresh one (STATE_CONFLICT)', async () => {
    const [a, b] = [await open('kb-stale'), await open('kb-stale')];
    await a.writeManifest(sampleManifest());
    const stale = await a.readManifest();
    const theirs = await b.readManifest();
    theirs.parts[0]!.batchId = 'batch-b';
    await b.writeManifest(theirs);
    // A reads again (the version it compares against must stay the one its stale copy was read at) ...
    const fresh = await a.readManifest();
    stale.parts[0]!.batchId = 'batch-a';
    expectKbatchError(await catchError(() => a.writeManifest(stale)), { code: 'STATE_CONFLICT', message: 'changed by another process' });
    expect((await b.readManifest()).parts[0]!.batchId).toBe('batch-b');
    // ... while its fresh copy, changed and saved again and again (as the pipeline does), is accepted.
    fresh.window = '48h';
    await a.writeManifest(fresh);
    fresh.window = '72h';
    await a.writeManifest(fresh);
    expect(await b.readManifest()).toMatchObject({ window: '72h', parts: [{ batchId: 'batch-b' }] });
  });

  it('refuses a write under a lock whose connection was killed (JOB_LOCK_LOST), so a second process cannot be raced into a second create', async () => {
    const [a, b] = [await open('kb-lost'), await open('kb-lost')];
    const held = await a.lock();
    await a.writeManifest(sampleManifest());
    const manifest = await a.readManifest();
    const { rows } = await pool.query("SELECT pid, client_addr FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = 'advisory' AND pid <> pg_backend_pid()");
    expect(rows).toHaveLength(1);
    // Over TCP, where the server's keepalive applies (a unix socket has none).
    expect(rows[0]!.client_addr).toBe('127.0.0.1');
    // Kill the lock's backend only (the store's pool stays up): the server frees the lock, and B can take it.
    expect((await pool.query('SELECT pg_terminate_backend($1, 30000) AS gone', [rows[0]!.pid])).rows[0]!.gone).toBe(true);
    const taken = await b.lock();
    // The intent write that would precede a create refuses, whether or not A's connection has told it yet.
    manifest.parts[0]!.createStartedAt = new Date().toISOString();
    expectKbatchError(await catchError(() => a.writeManifest(manifest)), { code: 'JOB_LOCK_LOST', message: "check the provider's batches" });
    // So does the check the create makes just before it is sent.
    expectKbatchError(await catchError(() => a.assertLocked()), { code: 'JOB_LOCK_LOST' });
    await vi.waitFor(() => expect(held.lost).toBe(true));
    expectKbatchError(await catchError(() => a.writeRunState(sampleRunState())), { code: 'JOB_LOCK_LOST' });
    expect((await b.readManifest()).parts[0]!.createStartedAt).toBeUndefined();
    await held.release();
    await taken.release();
    // With no lock held through it, A writes as any store does (and B's live lock passes the check).
    await a.writeManifest(await a.readManifest());
    await a.assertLocked();
    const again = await b.lock();
    await b.assertLocked();
    await again.release();
  });

  it('holds its locks on connections of their own: more locks than the pool has connections starve nothing, and a full pool is DATABASE_UNAVAILABLE', async () => {
    const small = new (await import('pg')).default.Pool({ connectionString: server.url, max: 1, connectionTimeoutMillis: 200 });
    try {
      const onSmall = await Promise.all([1, 2, 3].map((i) => postgresStore({ pool: small, jobId: `kb-pool-${i}`, dir: '/d' })));
      const locks: PostgresJobLock[] = [];
      for (const store of onSmall) locks.push(await store.lock(), await store.lock('run'));
      expect(await onSmall[0]!.hasManifest()).toBe(false);
      const taken = await small.connect();
      try {
        expectKbatchError(await catchError(() => onSmall[1]!.hasManifest()), { code: 'DATABASE_UNAVAILABLE', message: 'timeout' });
      } finally {
        taken.release();
      }
      await Promise.all(onSmall.map((store) => store.close()));
      expect(locks.map((l) => l.lost)).toEqual(locks.map(() => false));
    } finally {
      await small.end();
    }
  });

  it('reads an answers log larger than one page whole, a later line for an id winning', async () => {
    const store = await open('kb-pages');
    await store.openAnswersLog('big.jsonl');
    // 25,001 lines over 20,000 ids: ids 0..4,999 are answered twice, their later line (higher seq) wins.
    await pool.query(
      `INSERT INTO kbatch.answer (job_id, log, custom_id, entry) SELECT $1, 'big.jsonl', 'row-' || (i % 20000), repeat('x', i % 7 + 1) FROM generate_series(0, 25000) AS i`,
      [store.jobId],
    );
    const answered = await store.readAnsweredIds('big.jsonl');
    const { rows } = await pool.query("SELECT max(seq)::int AS seq, custom_id FROM kbatch.answer WHERE job_id = $1 AND log = 'big.jsonl' GROUP BY custom_id", [store.jobId]);
    expect(answered.size).toBe(20_000);
    expect(rows.every((r) => answered.get(r.custom_id)!.offset === r.seq)).toBe(true);
    expect(answered.get('row-3')!.length).toBe((20_003 % 7) + 1);
  });
});
