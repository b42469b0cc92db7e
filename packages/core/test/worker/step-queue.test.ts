import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob, jobStep } from '../../src/worker/job-steps.js';
import { openStepQueue, type StepQueue } from '../../src/worker/step-queue.js';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../helpers/postgres.js';

describe.skipIf(POSTGRES_SKIP_REASON !== null)('the step queue', () => {
  let pg: TestPostgres;
  let queue: StepQueue;
  let sql: pgDriver.Pool;
  beforeAll(async () => {
    pg = await startPostgres();
    queue = await openStepQueue({ databaseUrl: pg.url, supervise: true, leaseSeconds: 30, retryDelaySeconds: 7 });
    sql = new pgDriver.Pool({ connectionString: pg.url, max: 1 });
  }, 120_000);
  afterAll(async () => {
    await sql?.end();
    await queue?.close();
    await pg?.stop();
  });
  // The job's rows in the queue, oldest first: state/retry count.
  const rowsOf = async (jobId: string) => (await sql.query(`SELECT state, retry_count FROM kbatch_boss.job WHERE singleton_key = $1 ORDER BY created_on`, [jobId])).rows.map((r) => `${r.state}/${r.retry_count}`);
  // What pg-boss's maintenance does to an active step past its lease: queued again for another worker, same id.
  const expire = (id: string) => sql.query(`UPDATE kbatch_boss.job SET state = 'retry', start_after = now() WHERE id = $1`, [id]);
  // The job's step among the due ones (steps left queued by earlier tests are taken too, and left active).
  const take = async (jobId: string) => (await queue.fetch(10)).filter((s) => s.jobId === jobId);
  // Seconds until the step's lease runs out, as pg-boss reckons it (started_on + expire_in).
  const leaseLeft = async (id: string) => Number((await sql.query(`SELECT EXTRACT(epoch FROM started_on + expire_in - now()) AS s FROM kbatch_boss.job WHERE id = $1`, [id])).rows[0].s);

  it("hands out an unrelated job's step while another job has a step active and was enqueued again (nothing queued for it)", async () => {
    expect(await enqueueJob({ databaseUrl: pg.url, jobId: 'busy' })).toBe(true);
    const [active] = await queue.fetch(4);
    expect(active).toMatchObject({ jobId: 'busy' });
    // A second `run --detach` of the busy job while its step runs: nothing is queued beside the active step.
    expect(await enqueueJob({ databaseUrl: pg.url, jobId: 'busy' })).toBe(false);
    expect(await queue.enqueue('other')).toBe(true);
    expect((await queue.fetch(4)).map((s) => s.jobId)).toEqual(['other']);
  });

  it("completes a step and queues the job's next one together: the next is handed out once the first is completed", async () => {
    expect(await queue.enqueue('chain')).toBe(true);
    const [first] = await queue.fetch(4);
    expect(first).toMatchObject({ jobId: 'chain' });
    await queue.complete(first!, { step: 'poll', outcome: 'running' }, { delayMs: 0 });
    const [next] = await queue.fetch(4);
    expect(next).toMatchObject({ jobId: 'chain', retryCount: 0 });
    expect(next!.id).not.toBe(first!.id);
  });

  it("gives a fetched step the worker's lease, not the one it was queued with, and renews it while the step is the worker's", async () => {
    expect(await enqueueJob({ databaseUrl: pg.url, jobId: 'leased' })).toBe(true);
    // Queued by a detach under the queue's default lease.
    await sql.query(`UPDATE kbatch_boss.job SET expire_in = interval '300 seconds', retry_delay = 60 WHERE singleton_key = 'leased'`);
    const [step] = await take('leased');
    expect(step).toMatchObject({ jobId: 'leased' });
    // The worker's retry delay too: a killed worker's step comes back after it, not after the detach's default.
    expect((await sql.query(`SELECT retry_delay FROM kbatch_boss.job WHERE id = $1`, [step!.id])).rows[0].retry_delay).toBe(7);
    expect(await leaseLeft(step!.id)).toBeGreaterThan(28);
    expect(await leaseLeft(step!.id)).toBeLessThanOrEqual(30);
    await sql.query(`UPDATE kbatch_boss.job SET started_on = started_on - interval '25 seconds' WHERE id = $1`, [step!.id]);
    expect(await leaseLeft(step!.id)).toBeLessThan(6);
    expect(await queue.renew([step!])).toEqual(new Set([step!.id]));
    expect(await leaseLeft(step!.id)).toBeGreaterThan(28);
    // The lease alone, not the time run so far plus it: pg-boss copies expire_in into a retried row for its next holder.
    expect(Number((await sql.query(`SELECT EXTRACT(epoch FROM expire_in) AS s FROM kbatch_boss.job WHERE id = $1`, [step!.id])).rows[0].s)).toBe(30);
    await queue.complete(step!, { step: 'done', outcome: 'done' });
    expect(await queue.renew([step!])).toEqual(new Set());
  });

  it('renews nothing for a step that expired and was handed out again (another worker holds it now)', async () => {
    expect(await queue.enqueue('taken')).toBe(true);
    const [mine] = await take('taken');
    await expire(mine!.id);
    const [theirs] = await take('taken');
    expect(theirs).toMatchObject({ id: mine!.id, retryCount: 1 });
    expect(await queue.renew([mine!])).toEqual(new Set());
    expect(await queue.renew([theirs!])).toEqual(new Set([mine!.id]));
    await queue.complete(theirs!, { step: 'done', outcome: 'done' });
  });

  it("completes nothing and queues nothing for a step whose lease ran out: the job keeps its one live row (queued again, or another worker's)", async () => {
    expect(await queue.enqueue('expired')).toBe(true);
    const [first] = await take('expired');
    await expire(first!.id);
    expect(await queue.complete(first!, { step: 'poll', outcome: 'running' }, { delayMs: 0 })).toBe(false);
    // A second `run --detach` meanwhile queues nothing beside the step waiting to be tried again.
    expect(await queue.enqueue('expired')).toBe(false);
    expect(await rowsOf('expired')).toEqual(['retry/0']);
    const [second] = await take('expired');
    expect(second).toMatchObject({ id: first!.id, retryCount: 1 });
    // The first worker settles late again, now beside the second's active step: neither completed nor failed by it.
    expect(await queue.complete(first!, { step: 'poll', outcome: 'running' }, { delayMs: 0 })).toBe(false);
    expect(await queue.fail(first!, { step: 'poll', code: 'X', message: 'late' })).toBe(false);
    expect(await rowsOf('expired')).toEqual(['active/1']);
    expect(await queue.complete(second!, { step: 'poll', outcome: 'running' }, { delayMs: 0 })).toBe(true);
    expect(await rowsOf('expired')).toEqual(['completed/1', 'created/0']);
  });

  it('queues the next step of a lost step whose row pg-boss failed for good (no live row left to go on with)', async () => {
    expect(await queue.enqueue('spent')).toBe(true);
    const [step] = await take('spent');
    await sql.query(`UPDATE kbatch_boss.job SET state = 'failed', completed_on = now() WHERE id = $1`, [step!.id]);
    expect(await queue.complete(step!, { step: 'poll', outcome: 'running' }, { delayMs: 0 })).toBe(false);
    expect(await rowsOf('spent')).toEqual(['failed/0', 'created/0']);
  });

  it('puts fetched steps back when their first renewal fails: none is left active with no worker holding it', async () => {
    expect(await queue.enqueue('unleased')).toBe(true);
    // A real failure of the renewal statement alone (an update of a row active before and after).
    await sql.query(`CREATE FUNCTION kbatch_boss.no_renewal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF OLD.state = 'active' AND NEW.state = 'active' AND NEW.singleton_key = 'unleased' THEN RAISE EXCEPTION 'renewal refused'; END IF;
      RETURN NEW; END $$`);
    await sql.query(`CREATE TRIGGER no_renewal BEFORE UPDATE ON kbatch_boss.job FOR EACH ROW EXECUTE FUNCTION kbatch_boss.no_renewal()`);
    try {
      await expect(queue.fetch(10)).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    } finally {
      await sql.query(`DROP TRIGGER no_renewal ON kbatch_boss.job; DROP FUNCTION kbatch_boss.no_renewal()`);
    }
    expect(await rowsOf('unleased')).toEqual(['created/0']);
    expect(await take('unleased')).toMatchObject([{ jobId: 'unleased', retryCount: 0 }]);
  });

  it.each(['done', 'failed'])('queues nothing for a lost step when another worker ended the job meanwhile (completed %s)', async (outcome) => {
    const jobId = `ended-${outcome}`;
    expect(await queue.enqueue(jobId)).toBe(true);
    const [mine] = await take(jobId);
    await expire(mine!.id);
    const [theirs] = await take(jobId);
    expect(await queue.complete(theirs!, { step: 'join', outcome })).toBe(true);
    expect(await queue.complete(mine!, { step: 'poll', outcome: 'running' }, { delayMs: 0 })).toBe(false);
    expect(await rowsOf(jobId)).toEqual(['completed/1']);
  });

  it("shows a job's live step, or its completed one, rather than a stale row pg-boss failed with retries left beside it", async () => {
    const stale = (jobId: string) =>
      sql.query(`INSERT INTO kbatch_boss.job (name, data, state, retry_limit, retry_count, singleton_key, policy, output, created_on, completed_on)
        VALUES ('kbatch-job', $2, 'failed', 10, 0, $1, 'stately', '{"message":"stately clash"}', now() + interval '1 second', now())`, [jobId, { jobId }]);
    expect(await queue.enqueue('two-rows')).toBe(true);
    await stale('two-rows');
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'two-rows' })).toMatchObject({ state: 'created' });
    const [step] = await take('two-rows');
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'two-rows' })).toMatchObject({ state: 'active' });
    expect(await queue.complete(step!, { step: 'join', outcome: 'done' })).toBe(true);
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'two-rows' })).toMatchObject({ state: 'completed', output: { outcome: 'done' } });
    // A step failed for good (retries spent) is the job's state even beside an older completed one.
    await sql.query(`UPDATE kbatch_boss.job SET retry_count = 10 WHERE singleton_key = 'two-rows' AND state = 'failed'`);
    expect(await jobStep({ databaseUrl: pg.url, jobId: 'two-rows' })).toMatchObject({ state: 'failed' });
  });
});
