import type { Pool } from 'pg';
import { KbatchError } from '../errors.js';

/**
 * kbatch's own tables, as ordered migrations: migration N (1-based) brings the schema to version N. Append, never
 * edit: a database records the versions it has, and each is applied once. `{schema}` is the quoted schema name.
 * JSON is kept as the exact text kbatch wrote (`text`, not `jsonb`: jsonb refuses `\u0000` and reorders keys).
 */
export const STATE_MIGRATIONS: readonly string[] = [
  // 1: one row per job (its manifest and run state, each with a version for compare-and-set writes; the cancel
  // request) and the realtime answers logs, one row per line in append order.
  `CREATE TABLE {schema}.job (
     id text PRIMARY KEY,
     manifest text,
     manifest_version bigint NOT NULL DEFAULT 0,
     run_state text,
     run_state_version bigint NOT NULL DEFAULT 0,
     cancel_requested_at text,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE {schema}.answer (
     job_id text NOT NULL REFERENCES {schema}.job (id) ON DELETE CASCADE,
     log text NOT NULL,
     seq bigint GENERATED ALWAYS AS IDENTITY,
     custom_id text NOT NULL,
     entry text NOT NULL,
     PRIMARY KEY (job_id, log, seq)
   );`,
  // 2: the shared provider quota (quota/postgres-quota.ts): one slot per part waiting for, or holding, room under its
  // quota key (provider / API key fingerprint / model); `ticket` orders the line, `owner` is the recording process's
  // presence lock (see quota/presence.ts).
  `CREATE TABLE {schema}.quota_slot (
     job_id text NOT NULL REFERENCES {schema}.job (id) ON DELETE CASCADE,
     part text NOT NULL,
     quota_key text NOT NULL,
     tokens bigint NOT NULL,
     requests bigint NOT NULL,
     held boolean NOT NULL DEFAULT false,
     ticket bigint GENERATED ALWAYS AS IDENTITY,
     owner bigint NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (job_id, part)
   );
   CREATE INDEX quota_slot_key ON {schema}.quota_slot (quota_key, ticket);`,
  // 3: the shared quota's limit per quota key (the latest `maxEnqueuedTokens` given by any job on the key wins), so it
  // applies to every job on the key, those started without the flag too.
  `CREATE TABLE {schema}.quota_limit (
     quota_key text PRIMARY KEY,
     max_enqueued_tokens bigint NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now()
   );`,
  // 4: a slot's tokens may be unknown (NULL: its part was not counted, no limit applied to its key when it was
  // recorded); under a limit such a held slot fills it rather than counting as 0.
  `ALTER TABLE {schema}.quota_slot ALTER COLUMN tokens DROP NOT NULL;`,
];

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A schema name as an SQL identifier (lower-case letters, digits and `_` only: it is written into SQL). */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new KbatchError('OPTION_INVALID', `Invalid option \`schema\`: must be lower-case letters, digits and _ (at most 63), got ${JSON.stringify(schema)}`, { field: 'schema' });
  return `"${schema}"`;
}

/**
 * Create kbatch's schema in the database, or migrate it to the newest version, and return that version. One
 * transaction under an advisory lock (per schema name): processes starting at once wait for each other, and a failed
 * migration leaves the previous version whole.
 * @param pool - a `pg` Pool
 * @param schema - the Postgres schema holding kbatch's tables (default `kbatch`)
 * @throws KbatchError STATE_SCHEMA_NEWER when the database was migrated by a newer kbatch
 * @example await migrateStateSchema(new pg.Pool({ connectionString: process.env.KBATCH_DATABASE_URL }));
 */
export async function migrateStateSchema(pool: Pick<Pool, 'connect'>, schema = 'kbatch'): Promise<number> {
  const q = quoteSchema(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SET LOCAL lock_timeout = '60s'");
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kbatch.schema:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${q}.schema_version (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    let version = await assertSchemaKnown(client, schema);
    for (; version < STATE_MIGRATIONS.length; version++) {
      await client.query(STATE_MIGRATIONS[version]!.replaceAll('{schema}', q));
      await client.query(`INSERT INTO ${q}.schema_version (version) VALUES ($1)`, [version + 1]);
    }
    await client.query('COMMIT');
    return version;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The schema's version, checked to be one this kbatch knows (a store on a pool whose schema was migrated earlier in
 * the process checks it again: a newer kbatch may have migrated it since).
 * @throws KbatchError STATE_SCHEMA_NEWER when the database was migrated by a newer kbatch
 */
export async function assertSchemaKnown(db: Pick<Pool, 'query'>, schema: string): Promise<number> {
  const { rows } = await db.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${quoteSchema(schema)}.schema_version`);
  const version = rows[0]!.v;
  if (version > STATE_MIGRATIONS.length) {
    throw new KbatchError('STATE_SCHEMA_NEWER', `The database schema ${schema} is at version ${version}, newer than this kbatch knows (${STATE_MIGRATIONS.length}): upgrade kbatch`);
  }
  return version;
}
