// The thin pg-boss facade: one queue of job steps in its own schema of the job database (pg-boss loaded on first use).
import type { Pool } from 'pg';
import type PgBoss from 'pg-boss';
import { KbatchError, isKbatchError } from '../errors.js';
import { crashPoint } from '../job/crash-point.js';
import { redactSecrets, redactUrl } from '../state/open-job-store.js';
import { asError } from '../state/postgres-store.js';

/** pg-boss's own schema in the job database (kbatch's tables are in `kbatch`). */
export const BOSS_SCHEMA = 'kbatch_boss';
/** The one queue: each entry is the next step of one job (`{ jobId }`), at most one queued and one active per job. */
export const STEP_QUEUE = 'kbatch-job';

/** Options of {@link openStepQueue}. */
export interface StepQueueOptions {
  databaseUrl: string;
  /** The caller's pool on that database (a worker's, shared with its job stores): pg-boss and the queue's transactions use it; default: a pool of the queue's own, ended by `close()`. */
  pool?: Pool;
  /** How long a step may run before pg-boss hands it to another worker (a killed worker's step; default 300 s). */
  leaseSeconds?: number;
  /** Workers only: run pg-boss maintenance (expiry of killed workers' steps) this often (default 10 s). */
  maintenanceSeconds?: number;
  /** Workers only: the delay before a failed or expired step is tried again (default 60 s; the queue's, as the lease). */
  retryDelaySeconds?: number;
  /** True for a worker: it runs maintenance and sets the queue's lease; a command that only enqueues or reads does not. */
  supervise?: boolean;
  /** pg-boss's background errors (maintenance, a dropped connection). */
  onError?: (error: Error) => void;
}

/** A step taken from the queue. */
export interface QueuedStep {
  id: string;
  jobId: string;
  /** Times this step was handed out before (a killed or failed worker's step comes back with 1, 2, …). */
  retryCount: number;
}

/** The latest step of a job, as `kbatch status` shows it. */
export interface StepStatus {
  /** pg-boss's state: created (queued), retry (queued after a failure), active, completed, failed, cancelled. */
  state: string;
  /** The step's record: its name, and for a failed one the error's code and message. */
  output: { step?: string; code?: string; message?: string; outcome?: string } | null;
  retryCount: number;
  startAfter: string;
}

/** The queue of job steps. */
export interface StepQueue {
  /** Queue the job's next step (after `delayMs`); false when one is already queued for it. */
  enqueue(jobId: string, delayMs?: number): Promise<boolean>;
  /** Take up to `limit` steps that are due (never two of one job). */
  fetch(limit: number): Promise<QueuedStep[]>;
  /**
   * Complete the step and (with `next`) queue the job's next step, in one transaction: a crash leaves either this
   * step active (pg-boss hands it out again after the lease) or the next one queued, never both nor neither. A step
   * no longer this worker's (its lease ran out: retrying, or another worker's) is left as it is and nothing is queued
   * beside it: the job keeps one live step. Resolves to false then.
   */
  complete(step: QueuedStep, output: object, next?: { delayMs: number }): Promise<boolean>;
  /** Fail the step: pg-boss retries it after its retry delay ({@link STEP_RETRY}); false (nothing done) when it is no longer this worker's. */
  fail(step: QueuedStep, output: object): Promise<boolean>;
  /**
   * Renew the steps' leases: each expires `leaseSeconds` (the queue's option) from now. Returns the ids still this
   * worker's (active, not handed out again); a step missing from them was lost.
   */
  renew(steps: readonly QueuedStep[]): Promise<Set<string>>;
  /** The job's latest step, or null when it never had one. */
  latest(jobId: string): Promise<StepStatus | null>;
  close(): Promise<void>;
}

const DEFAULT_LEASE_SECONDS = 300;

/**
 * A failed (or expired: its worker died) step is tried 10 more times, 60 s apart by default (pg-boss 10 has no cap on
 * its backoff): a step failing on every try is failed for good after about 10 minutes, long before pg-boss would
 * archive a queued row.
 */
export const STEP_RETRY = { retryLimit: 10, retryDelay: 60, retryBackoff: false } as const;

function send(boss: PgBoss, jobId: string, delayMs: number, db?: PgBoss.Db): Promise<string | null> {
  return boss.send(STEP_QUEUE, { jobId }, { singletonKey: jobId, ...(delayMs > 0 ? { startAfter: Math.ceil(delayMs / 1000) } : {}), ...(db ? { db } : {}) });
}

/** Run `body` in one transaction on a connection of the pool. */
async function inTransaction(pool: Pool, body: (db: PgBoss.Db) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await body({ executeSql: (text, values) => client.query(text, values) });
    await client.query('COMMIT');
  } catch (error) {
    // A connection that cannot even roll back is dropped, not pooled.
    const rolledBack = await client.query('ROLLBACK').then(() => true, () => false);
    client.release(rolledBack ? undefined : asError(error));
    throw error;
  }
  client.release();
}

/**
 * Open the step queue on the job database: pg-boss's schema is created or migrated by pg-boss itself (under its
 * advisory lock), the queue created once (policy `stately`, keyed by the job id). pg-boss runs over one pool (the
 * caller's, or the queue's own): no connections beyond it.
 * @throws KbatchError DATABASE_UNAVAILABLE (the URL's password cut out)
 */
export async function openStepQueue(options: StepQueueOptions): Promise<StepQueue> {
  const { databaseUrl } = options;
  const supervise = options.supervise ?? false;
  const pool = options.pool ?? (await ownPool(databaseUrl, options.onError));
  const boss = await guarded(databaseUrl, async () => {
    const PgBossClass = (await import('pg-boss')).default;
    const created = new PgBossClass({
      db: { executeSql: (text: string, values?: unknown[]) => pool.query(text, values) },
      schema: BOSS_SCHEMA,
      supervise,
      schedule: false,
      maintenanceIntervalSeconds: options.maintenanceSeconds ?? 10,
    } as PgBoss.ConstructorOptions);
    created.on('error', (error: Error) => options.onError?.(new Error(redactSecrets(error.message, databaseUrl))));
    await created.start();
    await ensureQueue(created, supervise ? { expireInSeconds: options.leaseSeconds ?? DEFAULT_LEASE_SECONDS, retryDelay: options.retryDelaySeconds ?? STEP_RETRY.retryDelay } : null);
    return created;
  }).catch(async (error: unknown) => {
    if (options.pool === undefined) await pool.end().catch(() => {});
    throw error;
  });
  const db = boss.getDb();
  const lease = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const retryDelay = options.retryDelaySeconds ?? STEP_RETRY.retryDelay;
  const call = <T>(body: () => Promise<T>): Promise<T> => guarded(databaseUrl, body);
  return {
    // A job with a step active or retrying gets no second one: the active step queues the next itself, and under
    // `stately` a second live row makes pg-boss fail one of them when the other moves to retry.
    enqueue: (jobId, delayMs = 0) => call(async () => !LIVE.has((await latestStep(db, jobId))?.state ?? '') && (await send(boss, jobId, delayMs)) !== null),
    fetch: (limit) =>
      call(async () => {
        if (!supervise) return toSteps(await boss.fetch<{ jobId: string }>(STEP_QUEUE, { batchSize: limit, includeMetadata: true }));
        let held: QueuedStep[] = [];
        // Taken and leased in one transaction: a renewal that fails puts the steps back, never leaves them active and unheld.
        await inTransaction(pool, async (tx) => {
          const steps = toSteps(await boss.fetch<{ jobId: string }>(STEP_QUEUE, { batchSize: limit, includeMetadata: true, db: tx }));
          // A step carries the lease it was queued with (a detach's is the default): the first renewal sets the worker's.
          const ids = steps.length === 0 ? new Set<string>() : await renewSteps(tx, steps, lease, retryDelay);
          held = steps.filter((s) => ids.has(s.id));
        });
        return held;
      }),
    complete: (step, output, next) =>
      call(async () => {
        let completed = false;
        // One transaction also for a last step: a worker killed before its commit leaves the step to another (tested).
        await inTransaction(pool, async (tx) => {
          completed = await completeOwn(tx, step, output);
          // A lost step's row lives on (retrying, or another worker's), or the job ended meanwhile: nothing to go on with.
          if (next !== undefined && (completed || (await mayGoOn(tx, step.jobId)))) await send(boss, step.jobId, next.delayMs, tx);
          crashPoint('worker-before-commit');
        });
        return completed;
      }),
    fail: (step, output) =>
      call(async () => {
        let failed = false;
        await inTransaction(pool, async (tx) => {
          // Locked first: pg-boss's fail matches the id alone, and a lost step's row may be another worker's by now.
          if ((failed = await ownsStep(tx, step))) await boss.fail(STEP_QUEUE, step.id, output, { db: tx });
          crashPoint('worker-before-commit');
        });
        return failed;
      }),
    renew: (steps) => call(() => renewSteps(db, steps, lease)),
    latest: (jobId) => call(() => latestStep(db, jobId)),
    close: () =>
      call(async () => {
        try {
          await boss.stop({ graceful: false, wait: true, timeout: 5_000 });
        } finally {
          if (options.pool === undefined) await pool.end();
        }
      }),
  };
}

/** A step's states while it is queued, waiting to be tried again, or running. */
const LIVE: ReadonlySet<string> = new Set(['created', 'retry', 'active']);

// A step is this worker's while its row is active with the retry count it was handed out with (an expired row handed
// out again keeps its id).
const OWN = `name = '${STEP_QUEUE}' AND id = $1 AND state = 'active' AND retry_count = $2`;

/** Lock the step's row if it is still this worker's. */
async function ownsStep(tx: PgBoss.Db, step: QueuedStep): Promise<boolean> {
  const { rows } = (await tx.executeSql(`SELECT 1 FROM ${BOSS_SCHEMA}.job WHERE ${OWN} FOR UPDATE`, [step.id, step.retryCount])) as { rows: unknown[] };
  return rows.length === 1;
}

/** pg-boss's completion (state, completed_on, output) of a step still this worker's; false when it is not. */
async function completeOwn(tx: PgBoss.Db, step: QueuedStep, output: object): Promise<boolean> {
  const sql = `UPDATE ${BOSS_SCHEMA}.job SET completed_on = now(), state = 'completed', output = $3::jsonb WHERE ${OWN} RETURNING id`;
  const { rows } = (await tx.executeSql(sql, [step.id, step.retryCount, JSON.stringify(output)])) as { rows: unknown[] };
  return rows.length === 1;
}

/**
 * True when a lost step may queue its job's next one: no step of the job is queued, retrying or active, and its newest
 * row does not end the job (completed done, or failed for good by a step, while this one ran late).
 */
async function mayGoOn(tx: PgBoss.Db, jobId: string): Promise<boolean> {
  const sql = `SELECT state::text, output->>'outcome' AS outcome FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND singleton_key = $2
    ORDER BY (state IN ('created', 'retry', 'active')) DESC, created_on DESC, completed_on DESC NULLS LAST LIMIT 1`;
  const { rows } = (await tx.executeSql(sql, [STEP_QUEUE, jobId])) as { rows: Array<{ state: string; outcome: string | null }> };
  const row = rows[0];
  if (row === undefined) return true;
  return !LIVE.has(row.state) && !(row.state === 'completed' && (row.outcome === 'done' || row.outcome === 'failed'));
}

function toSteps(jobs: Array<PgBoss.JobWithMetadata<{ jobId: string }>>): QueuedStep[] {
  return jobs.map((j) => ({ id: j.id, jobId: j.data.jobId, retryCount: j.retryCount }));
}

/**
 * One statement for any number of steps: pg-boss expires a step at started_on + expire_in (plans.js
 * failJobsByTimeout), and has no call to extend it. started_on is moved, not expire_in grown: pg-boss copies expire_in
 * into a retried row and fetch resets only started_on, so a grown one would hand the next holder this run's time. At
 * fetch, `retryDelaySeconds` also replaces the delay the step was queued with (a detach's default), so a killed
 * worker's step comes back after this worker's delay.
 */
async function renewSteps(db: PgBoss.Db, steps: readonly QueuedStep[], leaseSeconds: number, retryDelaySeconds?: number): Promise<Set<string>> {
  const sql = `UPDATE ${BOSS_SCHEMA}.job j SET started_on = now(), expire_in = $4 * interval '1 second', retry_delay = COALESCE($5, j.retry_delay)
    FROM unnest($2::uuid[], $3::int[]) AS s(id, retry_count)
    WHERE j.name = $1 AND j.id = s.id AND j.state = 'active' AND j.retry_count = s.retry_count RETURNING j.id`;
  const values = [STEP_QUEUE, steps.map((s) => s.id), steps.map((s) => s.retryCount), leaseSeconds, retryDelaySeconds ?? null];
  const { rows } = (await db.executeSql(sql, values)) as { rows: Array<{ id: string }> };
  return new Set(rows.map((r) => r.id));
}

/** The queue's own pool (pg loaded on first use): at most 4 connections, as pg-boss's own pool had. */
async function ownPool(databaseUrl: string, onError: ((error: Error) => void) | undefined): Promise<Pool> {
  const pg = (await import('pg')).default;
  // A database that does not answer fails, as the job store does, instead of hanging.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, connectionTimeoutMillis: 10_000, application_name: 'kbatch' });
  pool.on('error', (error: Error) => onError?.(new Error(redactSecrets(error.message, databaseUrl))));
  return pool;
}

/** Create the queue (a no-op when it exists); a worker sets its lease and retry delay, which steps queued from then on get. */
async function ensureQueue(boss: PgBoss, worker: { expireInSeconds: number; retryDelay: number } | null): Promise<void> {
  const queue = { name: STEP_QUEUE, policy: 'stately' as const, ...STEP_RETRY, expireInSeconds: DEFAULT_LEASE_SECONDS, ...worker };
  if ((await boss.getQueue(STEP_QUEUE)) === null) {
    // Two processes may create it at once: the loser finds it made.
    await boss.createQueue(STEP_QUEUE, queue).catch(async (error: unknown) => {
      if ((await boss.getQueue(STEP_QUEUE)) === null) throw error;
    });
  }
  if (worker !== null) await boss.updateQueue(STEP_QUEUE, queue);
}

/** Reads jobs' latest steps on one connection, without starting pg-boss (no schema made, a read-only role will do). */
export interface StepReader {
  latest(jobId: string): Promise<StepStatus | null>;
  close(): Promise<void>;
}

/**
 * Open a {@link StepReader} on the job database (pg loaded on first use): on the caller's pool (a job store's: no
 * connection of its own), else on one connection for every read.
 * @throws KbatchError DATABASE_UNAVAILABLE (the URL's password cut out)
 */
export async function openStepReader(databaseUrl: string, { pool }: { pool?: Pool } = {}): Promise<StepReader> {
  const client =
    pool ??
    (await guarded(databaseUrl, async () => {
      const pg = (await import('pg')).default;
      const opened = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, application_name: 'kbatch' });
      opened.on('error', () => {});
      await opened.connect();
      return opened;
    }));
  const db: PgBoss.Db = { executeSql: (text, values) => client.query(text, values) };
  return {
    latest: (jobId) =>
      guarded(databaseUrl, () =>
        latestStep(db, jobId).catch((error: unknown) => {
          // No pg-boss schema yet: no worker or detach ever ran on this database.
          if ((error as { code?: string }).code === '42P01' || (error as { code?: string }).code === '3F000') return null;
          throw error;
        }),
      ),
    // The caller's pool stays open.
    close: async () => void (client === pool ? undefined : await (client as { end(): Promise<void> }).end().catch(() => {})),
  };
}

async function latestStep(db: PgBoss.Db, jobId: string): Promise<StepStatus | null> {
  // Finished steps move to the archive after a while: the newest of both tables, a live one first. A row pg-boss failed
  // with retries left lost a `stately` clash with a second row of the job (as an expired step's completion once queued):
  // that row, not the stale one, tells how the job went.
  const cols = `state::text, output, retry_count, retry_limit, start_after, created_on`;
  const sql = `SELECT state, output, retry_count, start_after FROM (
      SELECT ${cols} FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND singleton_key = $2
      UNION ALL SELECT ${cols} FROM ${BOSS_SCHEMA}.archive WHERE name = $1 AND singleton_key = $2
    ) s ORDER BY (state IN ('created', 'retry', 'active')) DESC, (state = 'failed' AND retry_count < retry_limit) ASC, created_on DESC, (state = 'active') DESC LIMIT 1`;
  const { rows } = (await db.executeSql(sql, [STEP_QUEUE, jobId])) as { rows: Array<{ state: string; output: StepStatus['output']; retry_count: number; start_after: Date }> };
  const row = rows[0];
  if (row === undefined) return null;
  // A step a retry cannot change is completed with its error (no retry spent on it): failed, as the job sees it.
  const state = row.state === 'completed' && row.output?.outcome === 'failed' ? 'failed' : row.state;
  return { state, output: row.output, retryCount: row.retry_count, startAfter: new Date(row.start_after).toISOString() };
}

// pg-boss and the driver may quote the URL: every failure is DATABASE_UNAVAILABLE with the password cut out.
async function guarded<T>(url: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (isKbatchError(error)) throw error;
    const message = redactSecrets(error instanceof Error ? error.message : String(error), url);
    throw new KbatchError('DATABASE_UNAVAILABLE', `Cannot use the step queue in ${redactUrl(url)}: ${message}`);
  }
}
