import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import type { RealtimeResultLine } from '../realtime/realtime-types.js';
import type { AnsweredIds, AnswersLog, FailureMarker } from './answers-log.js';
import type { JobLock } from './lock.js';
import type { JobLockScope, JobStore, OpenedAnswersLog } from './job-store.js';
import { JobManifestSchema, type JobManifest } from './manifest.js';
import { RunStateSchema, type RunState } from './run-state.js';
import { parseStateFile } from './state-file.js';
import { migrateStateSchema, quoteSchema } from './postgres-schema.js';

/** Options of {@link postgresStore}. */
export const PostgresStoreOptionsSchema = z
  .object({
    /** A `pg` Pool the caller owns (shared by many stores); or give `connectionString`. */
    pool: z.custom<Pool>((v) => typeof v === 'object' && v !== null && typeof (v as Pool).connect === 'function', { error: 'must be a pg Pool' }).optional(),
    /** A Postgres URL (`postgres://user@host:port/db`): the store opens a pool of its own, ended by `close()`. */
    connectionString: z.string({ error: 'must be a Postgres URL' }).min(1, { error: 'must be a Postgres URL' }).optional(),
    /** The job's id: the key of its state in the database (the same on every machine that continues it). */
    jobId: z.string({ error: 'must be a job id' }).min(1, { error: 'must be a job id' }),
    /** Where the job's data files are (chunks, results, spooled input): a directory every machine sees. */
    dir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
    /** The Postgres schema holding kbatch's tables, created and migrated on open (default `kbatch`). */
    schema: z.string({ error: 'must be a schema name' }).default('kbatch'),
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
  const pool = opts.pool ?? new (await import('pg')).default.Pool({ connectionString: opts.connectionString });
  // An idle connection of our own pool that dies is replaced on the next query; unheard, its error would end the process.
  if (owned) pool.on('error', ignore);
  try {
    await migrateStateSchema(pool, opts.schema);
  } catch (error) {
    if (owned) await pool.end();
    throw error;
  }
  return new PostgresJobStore({ pool, owned, jobId: opts.jobId, dir: opts.dir, schema: opts.schema });
}

/** The two JSON documents of a job row, each written by compare-and-set on its own version column. */
type Doc = 'manifest' | 'run_state';

/**
 * A job's state in one row of `<schema>.job` (answers logs in `<schema>.answer`). Every write is one statement,
 * committed before it resolves: a crash leaves the old or the new state. Writes are compare-and-set on the version
 * this store last read or wrote, so two processes cannot both record the same create: the second write fails with
 * STATE_CONFLICT (a first write succeeds only where the job has no such document yet). Locks are session advisory
 * locks, freed by the server when their holder's connection dies. See {@link postgresStore}.
 */
export class PostgresJobStore implements JobStore {
  readonly dir: string;
  readonly jobId: string;
  private readonly pool: Pool;
  private readonly owned: boolean;
  private readonly schema: string;
  private readonly q: string;
  /** Releases of the locks taken through this store and not yet released (close() releases them). */
  private readonly held = new Set<() => Promise<void>>();
  /** The version of each document this store last read or wrote (absent: never seen). */
  private readonly versions: Partial<Record<Doc, number>> = {};

  constructor(init: { pool: Pool; owned: boolean; jobId: string; dir: string; schema: string }) {
    this.pool = init.pool;
    this.owned = init.owned;
    this.jobId = init.jobId;
    this.dir = init.dir;
    this.schema = init.schema;
    this.q = quoteSchema(init.schema);
  }

  async readManifest(): Promise<JobManifest> {
    const text = await this.readDoc('manifest');
    if (text === null) throw new KbatchError('JOB_NOT_FOUND', `No kbatch job ${this.jobId} in the database (schema ${this.schema})`, { file: this.label('manifest') });
    return parseStateFile(this.label('manifest'), text, JobManifestSchema, 'manifest');
  }

  async hasManifest(): Promise<boolean> {
    const { rows } = await this.pool.query(`SELECT 1 FROM ${this.q}.job WHERE id = $1 AND manifest IS NOT NULL`, [this.jobId]);
    return rows.length > 0;
  }

  writeManifest(manifest: JobManifest): Promise<void> {
    return this.writeDoc('manifest', JSON.stringify(manifest));
  }

  removeManifest(): Promise<void> {
    return this.writeDoc('manifest', null);
  }

  async readRunState(): Promise<RunState | null> {
    const text = await this.readDoc('run_state');
    return text === null ? null : parseStateFile(this.label('run_state'), text, RunStateSchema, 'run state');
  }

  writeRunState(state: RunState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    return this.writeDoc('run_state', JSON.stringify(state));
  }

  async openAnswersLog(name: string): Promise<OpenedAnswersLog> {
    await this.pool.query(`INSERT INTO ${this.q}.job (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, [this.jobId]);
    return { answered: await this.readAnsweredIds(name), log: new PostgresAnswersLog(this.pool, this.q, this.jobId, name) };
  }

  async readAnsweredIds(name: string): Promise<AnsweredIds> {
    const { rows } = await this.pool.query<{ seq: string; custom_id: string; length: number }>(
      `SELECT seq, custom_id, octet_length(entry) AS length FROM ${this.q}.answer WHERE job_id = $1 AND log = $2 ORDER BY seq`,
      [this.jobId, name],
    );
    // A later line for the same id wins, as in a log file; the location is the row's seq.
    return new Map(rows.map((r) => [r.custom_id, { offset: Number(r.seq), length: r.length }]));
  }

  async lock(scope: JobLockScope = 'job'): Promise<JobLock> {
    const client = await this.pool.connect();
    const key = `kbatch:${this.schema}:${this.jobId}:${scope}`;
    // A held connection that dies (server restart, network) must not crash the process: the lock is gone with it,
    // and the release below then drops the connection.
    client.on('error', ignore);
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [key]);
      if (!rows[0]!.ok) throw new KbatchError('JOB_LOCKED', `Job ${this.jobId} is in use (its ${scope} lock is held by another process connected to the database)`);
    } catch (error) {
      client.off('error', ignore);
      client.release();
      throw error;
    }
    const release = once(async () => {
      this.held.delete(release);
      await unlock(client, key);
    });
    this.held.add(release);
    return { release };
  }

  async requestCancel(): Promise<string> {
    const at = new Date().toISOString();
    await this.pool.query(
      `INSERT INTO ${this.q}.job (id, cancel_requested_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET cancel_requested_at = $2, updated_at = now()`,
      [this.jobId, at],
    );
    return at;
  }

  async cancelRequested(): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ at: string | null }>(`SELECT cancel_requested_at AS at FROM ${this.q}.job WHERE id = $1`, [this.jobId]);
    return rows[0]?.at ?? undefined;
  }

  /** Release the locks still held through this store, and end the pool it opened (a pool given by the caller stays open). */
  async close(): Promise<void> {
    await Promise.all([...this.held].map((release) => release()));
    if (this.owned) await this.pool.end();
  }

  private async readDoc(doc: Doc): Promise<string | null> {
    const { rows } = await this.pool.query<{ text: string | null; version: string }>(`SELECT ${doc} AS text, ${doc}_version AS version FROM ${this.q}.job WHERE id = $1`, [this.jobId]);
    // No row yet: the next write is a first create (see writeDoc).
    if (rows[0]) this.versions[doc] = Number(rows[0].version);
    else delete this.versions[doc];
    return rows[0]?.text ?? null;
  }

  // Compare-and-set: on the version last seen, else only where the job has no such document yet (a first create).
  private async writeDoc(doc: Doc, text: string | null): Promise<void> {
    const seen = this.versions[doc];
    const { rows } =
      seen === undefined
        ? await this.pool.query<{ version: string }>(
            `INSERT INTO ${this.q}.job AS j (id, ${doc}, ${doc}_version) VALUES ($1, $2, 1)
             ON CONFLICT (id) DO UPDATE SET ${doc} = $2, ${doc}_version = j.${doc}_version + 1, updated_at = now() WHERE j.${doc} IS NULL
             RETURNING ${doc}_version AS version`,
            [this.jobId, text],
          )
        : await this.pool.query<{ version: string }>(
            `UPDATE ${this.q}.job SET ${doc} = $2, ${doc}_version = ${doc}_version + 1, updated_at = now() WHERE id = $1 AND ${doc}_version = $3 RETURNING ${doc}_version AS version`,
            [this.jobId, text, seen],
          );
    if (rows.length === 0) {
      throw new KbatchError('STATE_CONFLICT', `The ${doc === 'manifest' ? 'manifest' : 'run state'} of job ${this.jobId} was changed by another process since this one read it: nothing was written (is the job driven twice?)`, { file: this.label(doc) });
    }
    this.versions[doc] = Number(rows[0]!.version);
  }

  private label(doc: Doc): string {
    return `postgres:${this.schema}.job/${this.jobId}/${doc}`;
  }
}

/** An answers log as rows: each append is one committed INSERT, in completion order (appends are serialized). */
class PostgresAnswersLog implements AnswersLog {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: Pool,
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
    const { rows } = await this.pool.query<{ entry: string }>(`SELECT entry FROM ${this.q}.answer WHERE job_id = $1 AND log = $2 AND seq = $3`, [this.jobId, this.name, offset]);
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
      await this.pool.query(`INSERT INTO ${this.q}.answer (job_id, log, custom_id, entry) VALUES ($1, $2, $3, $4)`, [this.jobId, this.name, customId, text]);
    });
    this.tail = written.catch(() => undefined);
    return written;
  }
}

// Unlock and hand the connection back; if the unlock fails, the connection is dropped (the server then frees the lock).
async function unlock(client: PoolClient, key: string): Promise<void> {
  try {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
    client.off('error', ignore);
    client.release();
  } catch (error) {
    client.off('error', ignore);
    client.release(error as Error);
  }
}

const ignore = (): void => {};

const once = (fn: () => Promise<void>): (() => Promise<void>) => {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
};
