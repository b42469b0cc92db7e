import type { ClientConfig, Pool, PoolClient, PoolConfig, QueryResultRow } from 'pg';
import { z } from 'zod';
import { isKbatchError, KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import type { RealtimeResultLine } from '../realtime/realtime-types.js';
import type { AnsweredIds, AnswersLog, FailureMarker } from './answers-log.js';
import type { JobLock } from './lock.js';
import type { JobLockScope, JobStore, OpenedAnswersLog } from './job-store.js';
import { JobManifestSchema, type JobManifest } from './manifest.js';
import { RunStateSchema, type RunState } from './run-state.js';
import { parseStateFile } from './state-file.js';
import { assertSchemaKnown, migrateStateSchema, quoteSchema } from './postgres-schema.js';

const PgPoolSchema = z.custom<Pool>((v) => typeof v === 'object' && v !== null && typeof (v as Pool).connect === 'function', { error: 'must be a pg Pool' });

/** Options of {@link postgresStore}. */
export const PostgresStoreOptionsSchema = z
  .object({
    /** A `pg` Pool the caller owns (shared by many stores); or give `connectionString`. */
    pool: PgPoolSchema.optional(),
    /** The caller's pool of dedicated keepalive connections for the store's locks: one from {@link openSessionPool} (a plain Pool lacks its server-side keepalive, so a vanished holder's lock would outlive it); default: one of the store's own, ended by `close()`. */
    sessions: PgPoolSchema.optional(),
    /** A Postgres URL (`postgres://user@host:port/db`): the store opens a pool of its own, ended by `close()`. */
    connectionString: z.string({ error: 'must be a Postgres URL' }).min(1, { error: 'must be a Postgres URL' }).optional(),
    /** The job's id: the key of its state in the database (the same on every machine that continues it). */
    jobId: z.string({ error: 'must be a job id' }).min(1, { error: 'must be a job id' }),
    /** Where the job's data files are (chunks, results, spooled input): a directory every machine sees. */
    dir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
    /** The Postgres schema holding kbatch's tables, created and migrated on open (default `kbatch`). */
    schema: z.string({ error: 'must be a schema name' }).default('kbatch'),
    /** How long a connection may take, or a query wait for a free pooled one, before DATABASE_UNAVAILABLE (ms; the store's own pool and lock connections). */
    connectionTimeoutMs: z.number({ error: 'must be a number of milliseconds' }).int({ error: 'must be a number of milliseconds' }).positive({ error: 'must be a number of milliseconds' }).default(10_000),
  })
  .refine((o) => (o.pool === undefined) !== (o.connectionString === undefined), { error: 'must give exactly one of `pool` and `connectionString`', path: ['pool'] });
export type PostgresStoreOptions = z.input<typeof PostgresStoreOptionsSchema>;

/**
 * Open a job's state in Postgres as a {@link JobStore} (the schema is created or migrated first). `pg` is imported
 * only here, on first use: a kbatch that keeps its state on disk never loads it.
 * @example
 * const store = await postgresStore({ connectionString: process.env.KBATCH_DATABASE_URL, jobId: 'kb-123', dir: '/shared/kb-123' });
 * const manifest = await store.readManifest();
 * await store.close();
 */
export async function postgresStore(options: PostgresStoreOptions): Promise<PostgresJobStore> {
  const opts = parseOptions(PostgresStoreOptionsSchema, options, 'postgresStore');
  quoteSchema(opts.schema);
  const owned = opts.pool === undefined;
  const pg = (await import('pg')).default;
  const pool = opts.pool ?? new pg.Pool({ connectionString: opts.connectionString, connectionTimeoutMillis: opts.connectionTimeoutMs });
  // An idle connection of our own pool that dies is replaced on the next query; unheard, its error would end the process.
  if (owned) pool.on('error', ignore);
  try {
    await migrateOnce(pool, opts.schema);
  } catch (error) {
    if (owned) await pool.end();
    throw error;
  }
  const given = pool.options as ClientConfig | undefined;
  const sessions = opts.sessions ?? (await openSessionPool({ ...given, connectionTimeoutMillis: given?.connectionTimeoutMillis || opts.connectionTimeoutMs }));
  return new PostgresJobStore({ pool, owned, sessions, ownedSessions: opts.sessions === undefined, jobId: opts.jobId, dir: opts.dir, schema: opts.schema });
}

// The schemas this process migrated through each pool: a pool (a worker's, shared by its steps) checks its schema once.
const migrated = new WeakMap<Pool, Map<string, Promise<number>>>();

async function migrateOnce(pool: Pool, schema: string): Promise<number> {
  const schemas = migrated.get(pool) ?? new Map<string, Promise<number>>();
  migrated.set(pool, schemas);
  const earlier = schemas.get(schema);
  // Already migrated here: one statement still refuses a schema a newer kbatch migrated since (a long-lived worker).
  if (earlier !== undefined && (await earlier.then(() => true, () => false))) return assertSchemaKnown(pool, schema);
  const done = migrateStateSchema(pool, schema);
  schemas.set(schema, done);
  // A failed migration is tried again by the next store.
  done.catch(() => schemas.delete(schema));
  return done;
}

/**
 * A pool of dedicated connections for session advisory locks (a job's locks, the quota's presence): each lock holds
 * one connection for its lifetime, never the store's pool (which it would starve), with TCP keepalive so that a server
 * or network that vanishes is noticed (the lock is then lost) in about a minute (see LOCK_KEEPALIVE for the server's
 * side). A released lock's connection is unlocked (pg_advisory_unlock_all) and kept for the next lock: a process
 * taking several locks in turn opens one connection, not one per lock.
 * @param config - the connection's settings (a pool's options will do)
 */
export async function openSessionPool(config: PoolConfig): Promise<Pool> {
  const pg = (await import('pg')).default;
  // A cap no process reaches: each held lock needs a connection of its own (a real cap would make a lock wait for another's release).
  const sessions = new pg.Pool({ ...config, max: SESSION_MAX, keepAlive: true, keepAliveInitialDelayMillis: 30_000 });
  sessions.on('connect', (client) => void client.query(LOCK_KEEPALIVE).catch(ignore));
  sessions.on('error', ignore);
  return sessions;
}

/** A Postgres database as a process shares it between the job stores it opens in turn (a worker's steps). */
export interface PostgresDatabase {
  /** Short statements: every store's reads and writes, the step queue's. */
  pool: Pool;
  /** Dedicated connections holding session locks ({@link openSessionPool}). */
  sessions: Pool;
  close(): Promise<void>;
}

/**
 * Open the pools a process shares across job stores (give both to {@link postgresStore}); nothing connects until used.
 * @param max - the most connections the statement pool opens at once
 * @param onError - told when an idle connection of the statement pool fails (default: ignored)
 */
export async function openPostgresDatabase(
  connectionString: string,
  { max = 10, connectionTimeoutMs = 10_000, onError = ignore }: { max?: number; connectionTimeoutMs?: number; onError?: (error: Error) => void } = {},
): Promise<PostgresDatabase> {
  const pg = (await import('pg')).default;
  const config: PoolConfig = { connectionString, connectionTimeoutMillis: connectionTimeoutMs, application_name: 'kbatch' };
  const pool = new pg.Pool({ ...config, max });
  // An idle connection that dies is replaced on the next query; the caller may want to hear of it (a worker warns).
  pool.on('error', onError);
  const sessions = await openSessionPool(config);
  return { pool, sessions, close: async () => void (await Promise.all([pool.end(), sessions.end()])) };
}

// Far above any process's locks held at once; a pool needs a number.
const SESSION_MAX = 10_000;

/** A lock of a {@link PostgresJobStore}: `lost` turns true when its connection ends before `release()`. */
export interface PostgresJobLock extends JobLock {
  readonly lost: boolean;
}

/** A lock held through the store: its connection's backend pid, and whether that connection ended. */
interface HeldLock {
  pid: number;
  lost: boolean;
  release(): Promise<void>;
}

/** The two JSON documents of a job row, each written by compare-and-set on its own version column. */
type Doc = 'manifest' | 'run_state';

/**
 * A job's state in one row of `<schema>.job` (answers logs in `<schema>.answer`). Every write is one statement,
 * committed before it resolves: a crash leaves the old or the new state. Writes are compare-and-set on the version
 * the document written was read (or last written) at, so two processes cannot both record the same create: the second
 * write fails with STATE_CONFLICT (a first write succeeds only where the job has no such document yet). Locks are
 * session advisory locks, each on a connection of its own, freed by the server when that connection dies; while the
 * store holds locks, every manifest and run state write first checks they are still held (else JOB_LOCK_LOST).
 * See {@link postgresStore}.
 */
export class PostgresJobStore implements JobStore {
  readonly dir: string;
  readonly jobId: string;
  private readonly pool: Pool;
  private readonly owned: boolean;
  private readonly schema: string;
  private readonly q: string;
  private readonly sessions: Pool;
  private readonly ownedSessions: boolean;
  /** The locks taken through this store and not yet released (close() releases them). */
  private readonly held = new Set<HeldLock>();
  /** The version of each document this store last read or wrote (absent: never seen), for a document it did not hand out. */
  private readonly versions: Partial<Record<Doc, number>> = {};
  /** The version each document object handed out (or written) was read at: its save compares against that one. */
  private readonly copies = new WeakMap<object, number>();

  constructor(init: { pool: Pool; owned: boolean; sessions: Pool; ownedSessions: boolean; jobId: string; dir: string; schema: string }) {
    this.pool = init.pool;
    this.owned = init.owned;
    this.sessions = init.sessions;
    this.ownedSessions = init.ownedSessions;
    this.jobId = init.jobId;
    this.dir = init.dir;
    this.schema = init.schema;
    this.q = quoteSchema(init.schema);
  }

  async readManifest(): Promise<JobManifest> {
    const { text, version } = await this.readDoc('manifest');
    if (text === null) throw new KbatchError('JOB_NOT_FOUND', `No kbatch job ${this.jobId} in the database (schema ${this.schema})`, { file: this.label('manifest') });
    return this.handOut(parseStateFile(this.label('manifest'), text, JobManifestSchema, 'manifest'), version);
  }

  async hasManifest(): Promise<boolean> {
    const { rows } = await this.query(`SELECT 1 FROM ${this.q}.job WHERE id = $1 AND manifest IS NOT NULL`, [this.jobId]);
    return rows.length > 0;
  }

  writeManifest(manifest: JobManifest): Promise<void> {
    return this.writeDoc('manifest', JSON.stringify(manifest), manifest);
  }

  removeManifest(): Promise<void> {
    return this.writeDoc('manifest', null);
  }

  async readRunState(): Promise<RunState | null> {
    const { text, version } = await this.readDoc('run_state');
    return text === null ? null : this.handOut(parseStateFile(this.label('run_state'), text, RunStateSchema, 'run state'), version);
  }

  writeRunState(state: RunState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    return this.writeDoc('run_state', JSON.stringify(state), state);
  }

  async openAnswersLog(name: string): Promise<OpenedAnswersLog> {
    await this.query(`INSERT INTO ${this.q}.job (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [this.jobId]);
    return { answered: await this.readAnsweredIds(name), log: new PostgresAnswersLog((sql, params) => this.query(sql, params), this.q, this.jobId, name) };
  }

  async readAnsweredIds(name: string): Promise<AnsweredIds> {
    const answered: AnsweredIds = new Map();
    // Read in pages by seq: only one page of rows is held beside the map at a time.
    for (let after = 0; ; ) {
      const { rows } = await this.query<{ seq: string; custom_id: string; length: number }>(
        `SELECT seq, custom_id, octet_length(entry) AS length FROM ${this.q}.answer WHERE job_id = $1 AND log = $2 AND seq > $3 ORDER BY seq LIMIT ${ANSWER_PAGE_ROWS}`,
        [this.jobId, name, after],
      );
      // A later line for the same id wins, as in a log file; the location is the row's seq.
      for (const r of rows) answered.set(r.custom_id, { offset: Number(r.seq), length: r.length });
      if (rows.length < ANSWER_PAGE_ROWS) return answered;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async lock(scope: JobLockScope = 'job'): Promise<PostgresJobLock> {
    const key = `kbatch:${this.schema}:${this.jobId}:${scope}`;
    const client = await this.sessions.connect().catch(unavailable);
    const held: HeldLock = { pid: 0, lost: false, release: async () => {} };
    // A held connection that dies (server restart, network, its backend killed) must not crash the process: the lock
    // is gone with it, which the next write under it finds (JOB_LOCK_LOST).
    const lose = (): void => void (held.lost = true);
    const stopListening = listen(client, lose);
    try {
      const { rows } = await client.query<{ ok: boolean; pid: number }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok, pg_backend_pid() AS pid', [key]);
      if (!rows[0]!.ok) throw new KbatchError('JOB_LOCKED', `Job ${this.jobId} is in use (its ${scope} lock is held by another process connected to the database)`);
      held.pid = rows[0]!.pid;
    } catch (error) {
      stopListening();
      client.release(isKbatchError(error) ? undefined : asError(error));
      return unavailable(error);
    }
    held.release = once(async () => {
      this.held.delete(held);
      // Unlocked before it resolves, so the lock is free then; the connection serves the next lock. Still listened to
      // meanwhile: a checked-out client's error with no listener would end the process.
      await giveBack(client, held.lost);
      stopListening();
    });
    this.held.add(held);
    return { release: held.release, get lost() { return held.lost; } };
  }

  /** The pool and schema the store uses, and its pool of dedicated keepalive connections: for kbatch's other tables beside the job's (the shared quota). */
  get database(): { pool: Pool; schema: string; sessions: Pool } {
    return { pool: this.pool, schema: this.schema, sessions: this.sessions };
  }

  async assertLocked(): Promise<void> {
    const pids = this.lockPids();
    if (!(await this.query<{ ok: boolean }>(`SELECT ${locksHeld('$1')} AS ok`, [pids])).rows[0]!.ok) throw this.lockLost();
  }

  async requestCancel(): Promise<string> {
    const at = new Date().toISOString();
    await this.query(
      `INSERT INTO ${this.q}.job (id, cancel_requested_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET cancel_requested_at = $2, updated_at = now()`,
      [this.jobId, at],
    );
    return at;
  }

  async cancelRequested(): Promise<string | undefined> {
    const { rows } = await this.query<{ at: string | null }>(`SELECT cancel_requested_at AS at FROM ${this.q}.job WHERE id = $1`, [this.jobId]);
    return rows[0]?.at ?? undefined;
  }

  /** Release the locks still held through this store, and end the pool it opened (a pool given by the caller stays open). */
  async close(): Promise<void> {
    await Promise.all([...this.held].map((held) => held.release()));
    if (this.ownedSessions) await this.sessions.end();
    if (this.owned) await this.pool.end();
  }

  private async readDoc(doc: Doc): Promise<{ text: string | null; version: number | undefined }> {
    const { rows } = await this.query<{ text: string | null; version: string }>(`SELECT ${doc} AS text, ${doc}_version AS version FROM ${this.q}.job WHERE id = $1`, [this.jobId]);
    // No row yet: the next write is a first create (see writeDoc).
    const version = rows[0] ? Number(rows[0].version) : undefined;
    if (version === undefined) delete this.versions[doc];
    else this.versions[doc] = version;
    return { text: rows[0]?.text ?? null, version };
  }

  // The document remembers the version it was read at: a stale copy saved after a fresher read is still refused.
  private handOut<T extends object>(document: T, version: number | undefined): T {
    if (version !== undefined) this.copies.set(document, version);
    return document;
  }

  // Compare-and-set: on the version `copy` was read at (else the version last seen), else only where the job has no
  // such document yet (a first create); and only while every lock held through this store is still held.
  private async writeDoc(doc: Doc, text: string | null, copy?: object): Promise<void> {
    const seen = (copy && this.copies.get(copy)) ?? this.versions[doc];
    const pids = this.lockPids();
    const { rows } =
      seen === undefined
        ? await this.query<{ version: string }>(
            `INSERT INTO ${this.q}.job AS j (id, ${doc}, ${doc}_version) SELECT $1, $2, 1 WHERE ${locksHeld('$3')}
             ON CONFLICT (id) DO UPDATE SET ${doc} = $2, ${doc}_version = j.${doc}_version + 1, updated_at = now() WHERE j.${doc} IS NULL
             RETURNING ${doc}_version AS version`,
            [this.jobId, text, pids],
          )
        : await this.query<{ version: string }>(
            `UPDATE ${this.q}.job SET ${doc} = $2, ${doc}_version = ${doc}_version + 1, updated_at = now() WHERE id = $1 AND ${doc}_version = $3 AND ${locksHeld('$4')} RETURNING ${doc}_version AS version`,
            [this.jobId, text, seen, pids],
          );
    if (rows.length === 0) {
      await this.assertLocked();
      throw new KbatchError('STATE_CONFLICT', `The ${doc === 'manifest' ? 'manifest' : 'run state'} of job ${this.jobId} was changed by another process since this one read it: nothing was written (is the job driven twice?)`, { file: this.label(doc) });
    }
    const version = Number(rows[0]!.version);
    this.versions[doc] = version;
    if (copy) this.copies.set(copy, version);
  }

  // The backends holding this store's locks (checked by the write itself); a lock whose connection ended is lost already.
  private lockPids(): number[] {
    if ([...this.held].some((h) => h.lost)) throw this.lockLost();
    return [...this.held].map((h) => h.pid);
  }

  private lockLost(): KbatchError {
    return new KbatchError(
      'JOB_LOCK_LOST',
      `The database connection holding job ${this.jobId}'s lock ended, so another process may be driving the job now: nothing was written. Stop; check the provider's batches for this job (a create may have been sent without its id recorded) before resuming it`,
    );
  }

  // One statement on the pool; a connection that cannot be had (server gone, pool full past its timeout) is DATABASE_UNAVAILABLE.
  private query<R extends QueryResultRow>(sql: string, params: unknown[]): Promise<{ rows: R[] }> {
    return this.pool.query<R>(sql, params).catch(unavailable);
  }

  private label(doc: Doc): string {
    return `postgres:${this.schema}.job/${this.jobId}/${doc}`;
  }
}

/** An answers log as rows: each append is one committed INSERT, in completion order (appends are serialized). */
class PostgresAnswersLog implements AnswersLog {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly query: Query,
    private readonly q: string,
    private readonly jobId: string,
    private readonly name: string,
  ) {}

  append(line: RealtimeResultLine): Promise<void> {
    return this.write(line.custom_id, line);
  }

  appendFailure(line: RealtimeResultLine): Promise<void> {
    const marker: FailureMarker = { custom_id: line.custom_id, failed: true, line };
    return this.write(line.custom_id, marker);
  }

  async read({ offset }: { offset: number }): Promise<RealtimeResultLine> {
    const { rows } = await this.query<{ entry: string }>(`SELECT entry FROM ${this.q}.answer WHERE job_id = $1 AND log = $2 AND seq = $3`, [this.jobId, this.name, offset]);
    if (!rows[0]) throw new KbatchError('JOB_INVALID', `answers log ${this.name} of job ${this.jobId} has no line ${offset}`);
    const entry = JSON.parse(rows[0].entry) as RealtimeResultLine | FailureMarker;
    return 'failed' in entry && entry.failed === true ? entry.line : (entry as RealtimeResultLine);
  }

  async close(): Promise<void> {
    await this.tail;
  }

  private write(customId: string, entry: RealtimeResultLine | FailureMarker): Promise<void> {
    const text = JSON.stringify(entry);
    const written = this.tail.then(async () => {
      await this.query(`INSERT INTO ${this.q}.answer (job_id, log, custom_id, entry) VALUES ($1, $2, $3, $4)`, [this.jobId, this.name, customId, text]);
    });
    this.tail = written.catch(() => undefined);
    return written;
  }
}

type Query = <R extends QueryResultRow>(sql: string, params: unknown[]) => Promise<{ rows: R[] }>;

/** The server's keepalive on a lock's connection (default: the OS's, 2 h): a holder whose machine vanished loses its
 * lock after about 2 minutes instead of keeping everyone out (JOB_LOCKED) for hours. */
export const LOCK_KEEPALIVE = 'SET tcp_keepalives_idle = 60; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 6';

/** Rows of an answers log read per query (readAnsweredIds pages through a log). */
const ANSWER_PAGE_ROWS = 10_000;

// True while every backend in the int[] parameter `param` still holds an advisory lock (each lock connection holds one).
const locksHeld = (param: string): string =>
  `(SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ANY(${param}::int[])) = cardinality(${param}::int[])`;

/** An error raised by the server (it has a severity) is kept; any other (no connection, a timeout) is DATABASE_UNAVAILABLE. */
export function unavailable(error: unknown): never {
  if (error instanceof KbatchError || !(error instanceof Error) || 'severity' in error) throw error;
  throw new KbatchError('DATABASE_UNAVAILABLE', `The database cannot be used: ${error.message}`);
}

const ignore = (): void => {};

export const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/** Hear a held session connection end or fail (`lose`); returns how to stop listening (before it goes back to the pool). */
export function listen(client: PoolClient, lose: () => void): () => void {
  client.on('error', lose);
  client.on('end', lose);
  return () => {
    client.off('error', lose);
    client.off('end', lose);
  };
}

/**
 * A session connection back to its pool with no advisory lock left on it; one lost, or that cannot be unlocked, is
 * dropped instead (ending it frees whatever it held).
 */
export async function giveBack(client: PoolClient, lost: boolean): Promise<void> {
  if (lost) return client.release(new Error('session connection lost'));
  const unlocked = await client.query('SELECT pg_advisory_unlock_all()').then(() => true, () => false);
  client.release(unlocked ? undefined : new Error('session connection could not be unlocked'));
}

/** `fn` run on the first call only; later calls get the first call's promise. */
export const once = (fn: () => Promise<void>): (() => Promise<void>) => {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
};
