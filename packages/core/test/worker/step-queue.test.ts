import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../src/worker/job-steps.js';
import { openStepQueue, type StepQueue } from '../../src/worker/step-queue.js';
import { POSTGRES_SKIP_REASON, startPostgres, type TestPostgres } from '../helpers/postgres.js';

describe.skipIf(POSTGRES_SKIP_REASON !== null)('the step queue', () => {
  let pg: TestPostgres;
  let queue: StepQueue;
  beforeAll(async () => {
    pg = await startPostgres();
    queue = await openStepQueue({ databaseUrl: pg.url, supervise: true, leaseSeconds: 30 });
  }, 120_000);
  afterAll(async () => {
    await queue?.close();
    await pg?.stop();
  });

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
});
