import type { Pool, PoolClient } from 'pg';
import type { JobPart } from '../state/manifest.js';
import { quoteSchema } from '../state/postgres-schema.js';
import { unavailable } from '../state/postgres-store.js';
import { mayBeEnqueued, quotaVerdict, type QuotaSlot, type SlotPart } from './quota-verdict.js';
import { quotaKey } from './quota-key.js';
import { isTerminalStatus } from '../client/schemas.js';
import { partLoad, type PartLoad } from './part-load.js';
import { liveOwners, openPresence, type Presence } from './presence.js';
import type { PartQuota, QuotaAnswer } from './part-quota.js';

/** Where a {@link PostgresQuota} keeps its slots, and whose they are. */
export interface PostgresQuotaInit {
  /** The job store's database: its pool, schema and pool of dedicated keepalive connections (PostgresJobStore.database). */
  database: { pool: Pool; schema: string; sessions: Pick<Pool, 'connect'> };
  jobId: string;
  jobDir: string;
  /** The provider's name and the API key's fingerprint: with each part's model, its quota key. */
  provider: string;
  fingerprint: string;
  /** This job's client's batches (same key fingerprint: same account): a gone holder's batch is looked at with it. */
  batches?: { retrieve(id: string): Promise<{ status: string }> } | undefined;
  /** A gone holder's batch is looked at most this often (ms; the job's poll interval). */
  checkEveryMs: number;
  /** Most estimated prompt tokens enqueued per key, as given to this job: stored for the key, the latest given wins. */
  maxEnqueuedTokens: number | undefined;
  /** The limit of a key none was given for (the provider's documented figure; undefined: none, slots still recorded). */
  defaultMaxEnqueuedTokens: number | undefined;
  retryMs: number;
}

type Decision = { answer: Omit<QuotaAnswer, 'firstRefusal'>; due: string[] };

interface SlotRow {
  job_id: string;
  part: string;
  ticket: string;
  held: boolean;
  tokens: string | null;
  requests: string;
  owner: string;
  /** ms since the slot was last written, on the database's clock (a machine's clock may run apart from it). */
  age: string;
}

/**
 * The shared quota in `<schema>.quota_slot` (migration 2): each decision is one transaction under an advisory xact lock
 * per quota key, so processes on any machine see one line. A slot's owner is a presence lock (quota/presence.ts): a
 * waiter whose process is gone loses its place; a holder whose process is gone keeps counting while its job's
 * manifest says its batch may be enqueued (see {@link mayBeEnqueued}) and, when it names the batch, until a look at
 * that batch (one GET per poll interval, with this job's client) shows it ended.
 */
export class PostgresQuota implements PartQuota {
  readonly retryMs: number;
  private readonly q: string;
  private readonly loads = new Map<string, PartLoad>();
  private readonly refused = new Set<string>();
  private readonly limitStored = new Set<string>();
  private readonly batchChecks = new Map<string, { at: number; ended: boolean }>();
  private presence: Promise<Presence> | undefined;

  constructor(private readonly init: PostgresQuotaInit) {
    this.retryMs = init.retryMs;
    this.q = quoteSchema(init.database.schema);
  }

  async acquire(part: JobPart, { force }: { force: boolean }): Promise<QuotaAnswer> {
    const load = this.loads.get(part.index) ?? (await partLoad(this.init.jobDir, part, { count: false }));
    let { answer, due } = await this.decideCounted(part, load, force);
    // A gone holder's batch seen ended just now: its slot is dropped by deciding again (at most once per acquire).
    if (await this.checkBatches(due)) answer = (await this.decideCounted(part, answer.load, force)).answer;
    // Unknown tokens are never kept: a limit may appear before the part asks again.
    if (answer.load.tokens !== undefined) this.loads.set(part.index, answer.load);
    const firstRefusal = !answer.granted && !this.refused.has(part.index);
    if (!answer.granted) this.refused.add(part.index);
    return { ...answer, firstRefusal };
  }

  // A part not counted as it was prepared (no limit then) is counted, outside the key's lock, once a decision finds a
  // limit on its key; without one its slot records no tokens (NULL), and the decision's load is the one used.
  private async decideCounted(part: JobPart, load: PartLoad, force: boolean): Promise<Decision> {
    for (let current = load; ; current = await partLoad(this.init.jobDir, part)) {
      const decided = await this.decide(part, current, force);
      if (decided !== 'recount') return decided;
    }
  }

  // One decision under the key's lock; `due`: batches of gone holders to look at (not looked at within the poll interval).
  // 'recount': a limit applies and the load's tokens are unknown (nothing written).
  private async decide(part: JobPart, load: PartLoad, force: boolean): Promise<Decision | 'recount'> {
    const key = quotaKey({ provider: this.init.provider, fingerprint: this.init.fingerprint, model: load.model });
    const owner = (await this.present()).owner;
    const me = { job: this.init.jobId, part: part.index };
    return this.transaction(key, async (db) => {
      const limit = await this.limit(db, key);
      if (limit !== undefined && load.tokens === undefined) return 'recount';
      const { rows } = await db.query<{ held: boolean }>(
        `INSERT INTO ${this.q}.quota_slot AS s (job_id, part, quota_key, tokens, requests, held, owner) VALUES ($1, $2, $3, $4, $5, false, $6)
         ON CONFLICT (job_id, part) DO UPDATE SET quota_key = $3, tokens = $4, requests = $5, held = s.held AND (s.owner = $6 OR $7), owner = $6, updated_at = now()
         RETURNING held`,
        // Forced only onto a slot still held: one given back (a refused create, a cancel) or dropped as stale waits in line again.
        [me.job, me.part, key, load.tokens ?? null, load.requests, owner, force],
      );
      const none = { tokens: 0, requests: 0, batches: 0 };
      if (rows[0]!.held) return { answer: { granted: true, key, load, limit, enqueued: none, ahead: 0, unsettled: [], uncounted: [] }, due: [] };
      const { slots, due } = await this.slots(db, key);
      const verdict = quotaVerdict(slots, me, { tokens: limit });
      if (verdict.stale.length > 0) {
        await db.query(`DELETE FROM ${this.q}.quota_slot WHERE (job_id, part) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [verdict.stale.map((s) => s.job), verdict.stale.map((s) => s.part)]);
      }
      if (verdict.grant) await db.query(`UPDATE ${this.q}.quota_slot SET held = true, updated_at = now() WHERE job_id = $1 AND part = $2`, [me.job, me.part]);
      const { grant, enqueued, ahead, unsettled, uncounted } = verdict;
      return { answer: { granted: grant, key, load, limit, enqueued, ahead, unsettled, uncounted }, due: grant ? [] : due };
    });
  }

  // One GET per batch with this job's client (same key fingerprint: same account), outside the key's lock; true when one has ended.
  private async checkBatches(ids: readonly string[]): Promise<boolean> {
    const batches = this.init.batches;
    if (batches === undefined) return false;
    const ended = await Promise.all(
      ids.map(async (id) => {
        const at = Date.now();
        // A batch that cannot be read keeps counting (until its window plus an hour, as before).
        const status = await batches.retrieve(id).then((b) => b.status, () => undefined);
        const over = status !== undefined && isTerminalStatus(status);
        this.batchChecks.set(id, { at, ended: over });
        return over;
      }),
    );
    return ended.includes(true);
  }

  async confirm(part: JobPart): Promise<boolean> {
    // The model is all it needs: its first line.
    const load = this.loads.get(part.index) ?? (await partLoad(this.init.jobDir, part, { count: false }));
    const key = quotaKey({ provider: this.init.provider, fingerprint: this.init.fingerprint, model: load.model });
    const owner = (await this.present()).owner;
    // Under the key's lock: a decider that read the intent-less manifest has finished (slot gone) or sees a live owner.
    return this.transaction(key, async (db) => {
      const { rowCount } = await db.query(`UPDATE ${this.q}.quota_slot SET owner = $3, updated_at = now() WHERE job_id = $1 AND part = $2 AND held`, [this.init.jobId, part.index, owner]);
      return (rowCount ?? 0) > 0;
    });
  }

  async release(part: JobPart): Promise<void> {
    await this.init.database.pool.query(`DELETE FROM ${this.q}.quota_slot WHERE job_id = $1 AND part = $2`, [this.init.jobId, part.index]).catch(unavailable);
  }

  async close(parts: readonly JobPart[]): Promise<void> {
    try {
      // A part done, or whose create was never sent, has no batch to count; a waiter of this process leaves the line.
      const free = parts.filter((p) => p.done || p.createStartedAt === undefined).map((p) => p.index);
      await this.init.database.pool.query(`DELETE FROM ${this.q}.quota_slot WHERE job_id = $1 AND (part = ANY($2::text[]) OR NOT held)`, [this.init.jobId, free]).catch(unavailable);
    } finally {
      await (await this.presence?.catch(() => undefined))?.close();
    }
  }

  // The key's limit: this job's, stored once per key by this process (the latest given wins), else the stored one, else the default.
  private async limit(db: Pick<PoolClient, 'query'>, key: string): Promise<number | undefined> {
    const given = this.init.maxEnqueuedTokens;
    if (given !== undefined && !this.limitStored.has(key)) {
      await db.query(
        `INSERT INTO ${this.q}.quota_limit (quota_key, max_enqueued_tokens) VALUES ($1, $2) ON CONFLICT (quota_key) DO UPDATE SET max_enqueued_tokens = $2, updated_at = now()`,
        [key, given],
      );
      this.limitStored.add(key);
    }
    const { rows } = await db.query<{ max: string }>(`SELECT max_enqueued_tokens AS max FROM ${this.q}.quota_limit WHERE quota_key = $1`, [key]);
    return rows[0] === undefined ? this.init.defaultMaxEnqueuedTokens : Number(rows[0].max);
  }

  // This process's presence (parts ask at once: one opening is shared); a lost one is replaced, and this job's slots follow the new owner.
  private present(): Promise<Presence> {
    const current = this.presence;
    this.presence = (async () => {
      const old = await current?.catch(() => undefined);
      if (old !== undefined && !old.lost) return old;
      const fresh = await openPresence(this.init.database.sessions).catch(unavailable);
      if (old !== undefined) {
        await old.close();
        await this.init.database.pool.query(`UPDATE ${this.q}.quota_slot SET owner = $1 WHERE job_id = $2 AND owner = $3`, [fresh.owner, this.init.jobId, old.owner]).catch(unavailable);
      }
      return fresh;
    })();
    return this.presence;
  }

  // Every slot under the key, each marked live or gone; a gone holder's batch judged from its job's manifest and, when
  // it has a batch id, from this process's last look at that batch (`due`: those to look at again).
  private async slots(db: PoolClient, key: string): Promise<{ slots: QuotaSlot[]; due: string[] }> {
    const { rows } = await db.query<SlotRow>(`SELECT job_id, part, ticket, held, tokens, requests, owner, (extract(epoch FROM now() - updated_at) * 1000)::bigint AS age FROM ${this.q}.quota_slot WHERE quota_key = $1 ORDER BY ticket`, [key]);
    const live = await liveOwners(db);
    const read = Date.now();
    const slots: QuotaSlot[] = rows.map((r) => ({ job: r.job_id, part: r.part, ticket: Number(r.ticket), held: r.held, tokens: r.tokens === null ? undefined : Number(r.tokens), requests: Number(r.requests), live: live.has(Number(r.owner)), touchedAt: read - Number(r.age) }));
    const gone = slots.filter((s) => s.held && !s.live);
    const due: string[] = [];
    if (gone.length === 0) return { slots, due };
    const manifests = await this.manifestParts(db, [...new Set(gone.map((s) => s.job))]);
    const now = Date.now();
    for (const slot of gone) {
      const job = manifests.get(slot.job);
      const part = job?.parts.get(slot.part);
      const seen = part?.batchId === undefined ? undefined : this.batchChecks.get(part.batchId);
      slot.enqueued = seen?.ended !== true && job !== undefined && mayBeEnqueued(part, job.window, now, slot.touchedAt);
      if (!slot.enqueued) continue;
      if (part?.batchId === undefined) slot.unsettled = true;
      else if (seen === undefined || now - seen.at >= this.init.checkEveryMs) {
        // Taken now: parts asking at once look at it once.
        this.batchChecks.set(part.batchId, { at: now, ended: false });
        due.push(part.batchId);
      }
    }
    return { slots, due };
  }

  private async manifestParts(db: PoolClient, jobs: string[]): Promise<Map<string, { window: string; parts: Map<string, SlotPart> }>> {
    const { rows } = await db.query<{ id: string; manifest: string | null }>(`SELECT id, manifest FROM ${this.q}.job WHERE id = ANY($1::text[])`, [jobs]);
    const out = new Map<string, { window: string; parts: Map<string, SlotPart> }>();
    for (const { id, manifest } of rows) {
      if (manifest === null) continue;
      const parsed = JSON.parse(manifest) as { window: string; parts: (SlotPart & { index: string })[] };
      out.set(id, { window: parsed.window, parts: new Map(parsed.parts.map((p) => [p.index, p])) });
    }
    return out;
  }

  // One transaction under the key's advisory xact lock: deciders of one key take turns, on any machine.
  private async transaction<T>(key: string, fn: (db: PoolClient) => Promise<T>): Promise<T> {
    const db = await this.init.database.pool.connect().catch(unavailable);
    try {
      await db.query('BEGIN');
      await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kbatch.quota:${this.init.database.schema}:${key}`]);
      const result = await fn(db);
      await db.query('COMMIT');
      return result;
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined);
      return unavailable(error);
    } finally {
      db.release();
    }
  }
}
