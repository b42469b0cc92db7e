import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { APIError } from 'openai';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createClient } from '../../src/client/create-kluster-client.js';
import { runBatchJob, resumeJob } from '../../src/job/batch-job.js';
import { createJob } from '../../src/job/create-job.js';
import { readJobResultEntries } from '../../src/job/read-job-results.js';
import type { JobEvent } from '../../src/job/job-types.js';
import { postgresStore, type PostgresJobStore } from '../../src/state/postgres-store.js';
import { estimateLineTokens } from '../../src/chunk/line-tokens.js';
import { keyFingerprint, quotaKey } from '../../src/quota/quota-key.js';
import { PostgresQuota } from '../../src/quota/postgres-quota.js';
import { openPresence } from '../../src/quota/presence.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { POSTGRES_SKIP_REASON, startPostgresOrReason, type TestPostgres } from '../helpers/postgres.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const PER_CHUNK = 10;
// Every line the same length, so every part has the same estimated tokens.
const line = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: `classify ${id}` }] } });
const partTokens = (prefix: string) => PER_CHUNK * estimateLineTokens(Buffer.from(line(`${prefix}-00`)));
const PART_TOKENS = partTokens('a');
// Fits one part's batch, never two (of any prefix used here).
const ONE_AT_A_TIME = Math.floor(PART_TOKENS * 1.5);

async function writeChunks(prefix: string, chunks: number): Promise<{ dir: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), `kbatch-quota-${prefix}-`));
  const ids: string[] = [];
  for (let c = 0; c < chunks; c++) {
    const lines = Array.from({ length: PER_CHUNK }, (_, i) => `${prefix}-${c}${i}`);
    ids.push(...lines);
    await writeFile(join(dir, `part-${c + 1}.jsonl`), `${lines.map(line).join('\n')}\n`);
  }
  return { dir, ids };
}

async function resultIds(store: PostgresJobStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const { result } of readJobResultEntries(store.dir, await store.readManifest())) ids.push(result.custom_id);
  return ids.sort();
}

describe.skipIf(POSTGRES_SKIP_REASON !== null)('the shared quota (real PostgreSQL, the emulator over HTTP)', () => {
  let server: TestPostgres;
  let pool: Pool;
  let emu: Emulator;
  let storage: string;
  let unavailable: string | undefined;
  let jobs = 0;
  const stores: PostgresJobStore[] = [];
  beforeAll(async () => {
    const started = await startPostgresOrReason();
    if (typeof started === 'string') {
      unavailable = started;
      return;
    }
    server = started;
    pool = new (await import('pg')).default.Pool({ connectionString: server.url });
    // Batches that take a little while: a second one created before the first ended would show in maxActiveBatches.
    emu = await startEmulator({ timeScale: 0.001, seed: 16, validationMs: 20, lineMs: 5, finalizingMs: 20 });
    storage = await mkdtemp(join(tmpdir(), 'kbatch-quota-storage-'));
  }, 120_000);
  beforeEach(async (context) => {
    if (unavailable !== undefined) context.skip(unavailable);
    await pool.query('DELETE FROM kbatch.quota_slot').catch(() => undefined);
    await pool.query('DELETE FROM kbatch.quota_limit').catch(() => undefined);
  });
  afterAll(async () => {
    try {
      await Promise.all(stores.map((s) => s.close()));
      await pool?.end();
      await emu?.close();
    } finally {
      await server?.stop();
    }
  });
  const open = async (name: string) => {
    const jobId = `kb-${name}-${++jobs}`;
    await mkdir(join(storage, jobId), { recursive: true });
    const store = await postgresStore({ connectionString: server.url, jobId, dir: join(storage, jobId) });
    stores.push(store);
    return store;
  };
  const client = () => createClient({ apiKey: 'k', baseURL: emu.baseURL });
  // A client whose every create is refused outright (a 4xx: no batch made).
  const refusingClient = () => {
    const refusing = client();
    refusing.batches.create = async () => {
      throw APIError.generate(400, { error: { message: 'model not allowed' } }, 'model not allowed', new Headers());
    };
    return refusing;
  };
  const KEY = () => quotaKey({ provider: 'kluster', fingerprint: keyFingerprint('k', emu.baseURL), model: MODEL });
  const slots = async () => (await pool.query<{ job_id: string; part: string; held: boolean }>('SELECT job_id, part, held FROM kbatch.quota_slot ORDER BY job_id, part')).rows;

  it('never has two batches enqueued at once for two jobs whose shared quota fits one: both complete, every record once, no slot left', async () => {
    const [a, b] = [await writeChunks('a', 3), await writeChunks('b', 3)];
    const [storeA, storeB] = [await open('a'), await open('b')];
    const before = emu.stats();
    const events: JobEvent[] = [];
    const run = (chunks: string, store: PostgresJobStore) =>
      runBatchJob({ chunks: [chunks], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, onProgress: (e) => events.push(e) });
    const [sa, sb] = await Promise.all([run(a.dir, storeA), run(b.dir, storeB)]);
    expect(emu.stats().maxActiveBatches).toBe(1);
    expect(emu.stats().batchesCreated - before.batchesCreated).toBe(6);
    expect([sa.succeeded, sb.succeeded]).toEqual([30, 30]);
    expect(await resultIds(storeA)).toEqual(a.ids.sort());
    expect(await resultIds(storeB)).toEqual(b.ids.sort());
    // The parts waited, and said for what; their tokens were read once from the chunks given and kept in the manifest.
    expect(events.some((e) => e.type === 'warning' && e.message.includes(`waits for the shared quota of ${KEY()}`))).toBe(true);
    expect((await storeA.readManifest()).parts.map((p) => p.promptTokens)).toEqual([PART_TOKENS, PART_TOKENS, PART_TOKENS]);
    expect(await slots()).toEqual([]);
  }, 60_000);

  it('applies the limit given to one job to another job on the same key started without it: one batch at a time, the latest limit given kept', async () => {
    const [a, b] = [await writeChunks('a', 3), await writeChunks('b', 3)];
    const [storeA, storeB] = [await open('a'), await open('b')];
    let startB: () => void = () => undefined;
    const aCreated = new Promise<void>((resolve) => (startB = resolve));
    const runA = runBatchJob({ chunks: [a.dir], client: client(), store: storeA, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, onProgress: (e) => e.type === 'created' && startB() });
    // B starts once A's limit is stored (A's first batch is created), without the flag.
    const runB = aCreated.then(() => runBatchJob({ chunks: [b.dir], client: client(), store: storeB, pollIntervalMs: 20 }));
    const [sa, sb] = await Promise.all([runA, runB]);
    // Earlier tests kept it at 1 too: a second batch beside A's would raise it.
    expect(emu.stats().maxActiveBatches).toBe(1);
    expect([sa.succeeded, sb.succeeded]).toEqual([30, 30]);
    expect(await resultIds(storeB)).toEqual(b.ids.sort());
    expect((await pool.query('SELECT quota_key, max_enqueued_tokens::int AS max FROM kbatch.quota_limit')).rows).toEqual([{ quota_key: KEY(), max: ONE_AT_A_TIME }]);
    expect(await slots()).toEqual([]);
  }, 60_000);

  it('runs a batch larger than the whole limit alone, saying so', async () => {
    const { dir, ids } = await writeChunks('big', 2);
    const store = await open('big');
    const events: JobEvent[] = [];
    const before = emu.stats().maxActiveBatches;
    const summary = await runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: 1, onProgress: (e) => events.push(e) });
    expect(summary.succeeded).toBe(ids.length);
    expect(emu.stats().maxActiveBatches).toBe(Math.max(before, 1));
    expect(events.filter((e) => e.type === 'warning' && e.message.includes('more than the whole quota')).length).toBe(2);
  }, 60_000);

  // A job of a gone process (its slots' owner holds no presence lock), its manifest saying what became of each part.
  async function goneJob(parts: { done?: boolean; createSent?: boolean | string; batchId?: string }[], slotsWritten = 'now()'): Promise<PostgresJobStore> {
    const { dir } = await writeChunks('gone', parts.length);
    const store = await open('gone');
    await createJob({ chunks: [dir], store });
    const manifest = await store.readManifest();
    for (const [i, p] of manifest.parts.entries()) {
      const sent = parts[i]!.createSent;
      if (sent) p.createStartedAt = typeof sent === 'string' ? sent : new Date().toISOString();
      if (parts[i]!.done) p.done = true;
      if (parts[i]!.batchId !== undefined) p.batchId = parts[i]!.batchId;
      await pool.query(`INSERT INTO kbatch.quota_slot (job_id, part, quota_key, tokens, requests, held, owner, updated_at) VALUES ($1, $2, $3, $4, 10, true, 424242, ${slotsWritten})`, [store.jobId, p.index, KEY(), ONE_AT_A_TIME]);
    }
    await store.writeManifest(manifest);
    return store;
  }

  it('does not count a gone process\'s slot of a part that is done, nor of one whose create was never sent (and deletes them)', async () => {
    const gone = await goneJob([{ createSent: true, done: true }, {}]);
    expect(await slots()).toHaveLength(2);
    const { dir, ids } = await writeChunks('after', 1);
    const store = await open('after');
    const summary = await runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME });
    expect(summary.succeeded).toBe(ids.length);
    expect((await slots()).filter((s) => s.job_id === gone.jobId)).toEqual([]);
  }, 60_000);

  it("waits behind a gone process's slot whose create was sent; an abort while waiting leaves the job resumable, and it completes once that batch is seen ended", async () => {
    const gone = await goneJob([{ createSent: true }]);
    const { dir, ids } = await writeChunks('behind', 2);
    const store = await open('behind');
    const created = emu.stats().batchesCreated;
    const stop = new AbortController();
    const events: JobEvent[] = [];
    const error = await catchError(() =>
      runBatchJob({
        chunks: [dir],
        client: client(),
        store,
        pollIntervalMs: 20,
        maxEnqueuedTokens: ONE_AT_A_TIME,
        signal: stop.signal,
        onProgress: (e) => {
          events.push(e);
          if (e.type === 'warning' && e.message.includes('waits for the shared quota')) setTimeout(() => stop.abort(), 100);
        },
      }),
    );
    expectKbatchError(error, { code: 'ABORTED', message: 'the job is saved' });
    // Both parts upload at once: whichever asked first is at the head of the line, the other behind it.
    const said = events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(said).toHaveLength(2);
    expect(said).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^part 0000[12] waits for the shared quota of ${KEY()}: ${ONE_AT_A_TIME} of ${ONE_AT_A_TIME} estimated tokens enqueued by 1 batch, 1 part ahead in line; job ${gone.jobId} stopped after sending a create and holds its share: kbatch resume ${gone.jobId} settles it$`)),
      expect.stringMatching(new RegExp(`^part 0000[12] waits for the shared quota of ${KEY()}: ${ONE_AT_A_TIME} of ${ONE_AT_A_TIME} estimated tokens enqueued by 1 batch, its ${partTokens('behind')} do not fit; job ${gone.jobId} stopped after sending a create and holds its share: kbatch resume ${gone.jobId} settles it$`)),
    ]));
    expect(emu.stats().batchesCreated).toBe(created);
    // The waiter left the line with its process's share; the gone holder's slot still counts.
    expect(await slots()).toEqual([{ job_id: gone.jobId, part: '00001', held: true }]);
    // A resume of the gone job would see its batch end and mark the part done: then it no longer counts.
    const manifest = await gone.readManifest();
    manifest.parts[0]!.done = true;
    await gone.writeManifest(manifest);
    const summary = await resumeJob(store.dir, { client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME });
    expect(summary.succeeded).toBe(ids.length);
    expect(emu.stats().batchesCreated - created).toBe(2);
    expect(await resultIds(store)).toEqual(ids.sort());
    expect(await slots()).toEqual([]);
  }, 60_000);

  it("stops counting a gone process's slot whose intent time is not a date once its window and an hour have passed since the slot was written", async () => {
    const gone = await goneJob([{ createSent: 'yesterday-ish' }], "now() - interval '26 hours'");
    const { dir, ids } = await writeChunks('garbled', 1);
    const store = await open('garbled');
    const summary = await runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, timeoutMs: 10_000 });
    expect(summary.succeeded).toBe(ids.length);
    expect((await slots()).filter((s) => s.job_id === gone.jobId)).toEqual([]);
  }, 60_000);

  it("still counts a gone process's slot whose intent time is not a date while its window and an hour have not passed since the slot was written", async () => {
    const gone = await goneJob([{ createSent: 'yesterday-ish' }], "now() - interval '23 hours'");
    const { dir } = await writeChunks('garbled-recent', 1);
    const store = await open('garbled-recent');
    const said: string[] = [];
    const error = await catchError(() =>
      runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, timeoutMs: 400, onProgress: (e) => e.type === 'warning' && said.push(e.message) }),
    );
    expectKbatchError(error, { code: 'AWAIT_TIMEOUT' });
    expect(said).toEqual([expect.stringContaining(`job ${gone.jobId} stopped after sending a create and holds its share`)]);
  }, 60_000);

  it("drops a gone process's slot once one look at its batch (with the waiter's client) shows it ended", async () => {
    // A real batch, already ended at the provider; the gone job's manifest never saw it end.
    const ended = await open('ended');
    await runBatchJob({ chunks: [(await writeChunks('ended', 1)).dir], client: client(), store: ended, pollIntervalMs: 20 });
    const batchId = (await ended.readManifest()).parts[0]!.batchId!;
    const gone = await goneJob([{ createSent: true, batchId }]);
    const { dir, ids } = await writeChunks('next', 1);
    const store = await open('next');
    const summary = await runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, timeoutMs: 10_000 });
    expect(summary.succeeded).toBe(ids.length);
    expect((await slots()).filter((s) => s.job_id === gone.jobId)).toEqual([]);
  }, 60_000);

  it("names a gone job counted with a create sent and no batch id in the waiting warning, and how to settle it", async () => {
    const gone = await goneJob([{ createSent: true }]);
    const { dir } = await writeChunks('named', 1);
    const store = await open('named');
    const said: string[] = [];
    const error = await catchError(() =>
      runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, timeoutMs: 400, onProgress: (e) => e.type === 'warning' && said.push(e.message) }),
    );
    expectKbatchError(error, { code: 'AWAIT_TIMEOUT' });
    expect(said).toEqual([expect.stringMatching(new RegExp(`; job ${gone.jobId} stopped after sending a create and holds its share: kbatch resume ${gone.jobId} settles it$`))]);
  }, 60_000);

  it('counts the wait against timeoutMs: AWAIT_TIMEOUT, nothing created, the job resumable', async () => {
    await goneJob([{ createSent: true }]);
    const { dir } = await writeChunks('late', 1);
    const store = await open('late');
    const created = emu.stats().batchesCreated;
    const started = Date.now();
    const error = await catchError(() => runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, timeoutMs: 400 }));
    expectKbatchError(error, { code: 'AWAIT_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(emu.stats().batchesCreated).toBe(created);
    expect((await store.readManifest()).parts.map((p) => [p.fileId !== undefined, p.createStartedAt])).toEqual([[true, undefined]]);
  }, 60_000);

  it('gives the slot back when the create is refused outright (a 4xx: no batch was made)', async () => {
    const { dir } = await writeChunks('refused', 1);
    const store = await open('refused');
    const refusing = refusingClient();
    const error = await catchError(() => runBatchJob({ chunks: [dir], client: refusing, store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME }));
    expect(error).toMatchObject({ status: 400 });
    expect((await store.readManifest()).parts[0]!.createStartedAt).toBeDefined();
    expect(await slots()).toEqual([]);
  }, 60_000);

  it('makes a part whose refused create gave its slot back wait in line on resume, not create over the limit', async () => {
    const { dir } = await writeChunks('again', 1);
    const store = await open('again');
    const refusing = refusingClient();
    await catchError(() => runBatchJob({ chunks: [dir], client: refusing, store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME }));
    // Another job's batch now holds the whole limit: the resumed part (its intent recorded, its slot gone) must wait.
    await goneJob([{ createSent: true }]);
    const created = emu.stats().batchesCreated;
    const error = await catchError(() => resumeJob(store.dir, { client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: ONE_AT_A_TIME, timeoutMs: 400 }));
    expectKbatchError(error, { code: 'AWAIT_TIMEOUT' });
    expect(emu.stats().batchesCreated).toBe(created);
  }, 60_000);

  it('sends no create for a part whose granted slot was dropped before its intent was saved (its presence read as gone): it waits in line again', async () => {
    const { dir, ids } = await writeChunks('dropped', 1);
    const store = await open('dropped');
    // Between the grant and the intent (the cancel check there), another process drops the slot, its owner read as gone.
    const asked = store.cancelRequested.bind(store);
    let dropped = 0;
    store.cancelRequested = async () => {
      if (dropped === 0) dropped = (await pool.query('DELETE FROM kbatch.quota_slot WHERE job_id = $1 AND held', [store.jobId])).rowCount ?? 0;
      return asked();
    };
    const heldAtCreate: boolean[] = [];
    const summary = await runBatchJob({
      chunks: [dir],
      client: client(),
      store,
      pollIntervalMs: 20,
      maxEnqueuedTokens: ONE_AT_A_TIME,
      onProgress: (e) => {
        if (e.type === 'created') void slots().then((rows) => heldAtCreate.push(rows.some((r) => r.job_id === store.jobId && r.held)));
      },
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(dropped).toBe(1);
    expect(summary.succeeded).toBe(ids.length);
    expect(heldAtCreate).toEqual([true]);
  }, 60_000);

  it('counts the batches of a job without a limit for the jobs that have one (every database job records its slots)', async () => {
    const { dir } = await writeChunks('free', 1);
    const store = await open('free');
    const seen: boolean[] = [];
    await runBatchJob({
      chunks: [dir],
      client: client(),
      store,
      pollIntervalMs: 20,
      onProgress: (e) => {
        if (e.type === 'created') void slots().then((rows) => seen.push(rows.some((r) => r.job_id === store.jobId && r.held)));
      },
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([true]);
    expect(await slots()).toEqual([]);
    // No limit on its key when its batch was created: its tokens were not counted (the slot recorded none).
    expect((await store.readManifest()).parts.map((p) => p.promptTokens)).toEqual([undefined]);
  }, 60_000);

  it("counts a part's tokens when its batch is about to be created under a limit stored for its key after it was prepared", async () => {
    const { dir } = await writeChunks('later', 2);
    const store = await open('later');
    await pool.query('INSERT INTO kbatch.quota_limit (quota_key, max_enqueued_tokens) VALUES ($1, $2)', [KEY(), ONE_AT_A_TIME]);
    const summary = await runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20 });
    expect(summary.succeeded).toBe(2 * PER_CHUNK);
    expect((await store.readManifest()).parts.map((p) => p.promptTokens)).toEqual([partTokens('later'), partTokens('later')]);
  }, 60_000);

  // A job's own quota, driven part by part (another job's process, as the worker would drive it).
  const quotaOf = (store: PostgresJobStore, maxEnqueuedTokens: number | undefined) =>
    new PostgresQuota({ database: store.database, jobId: store.jobId, jobDir: store.dir, provider: 'kluster', fingerprint: keyFingerprint('k', emu.baseURL), checkEveryMs: 20, maxEnqueuedTokens, defaultMaxEnqueuedTokens: undefined, retryMs: 20 });
  const preparedJob = async (name: string) => {
    const store = await open(name);
    await createJob({ chunks: [(await writeChunks(name, 1)).dir], store });
    return { store, part: (await store.readManifest()).parts[0]! };
  };
  const slotTokens = async (jobId: string) => (await pool.query<{ tokens: string | null }>('SELECT tokens FROM kbatch.quota_slot WHERE job_id = $1', [jobId])).rows.map((r) => r.tokens);

  it("counts a part refused while its key had no limit once a limit appears, rather than granting it as 0 tokens", async () => {
    const { store: a } = await preparedJob('first');
    const { store, part } = await preparedJob('waiting');
    const presence = await openPresence(a.database.sessions);
    const quota = quotaOf(store, undefined);
    try {
      // A live waiter ahead: the part is refused with no limit on its key, its tokens not counted.
      await pool.query('INSERT INTO kbatch.quota_slot (job_id, part, quota_key, tokens, requests, held, owner) VALUES ($1, $2, $3, $4, 10, false, $5)', [a.jobId, '00001', KEY(), PART_TOKENS, presence.owner]);
      expect(await quota.acquire(part, { force: false })).toMatchObject({ granted: false, ahead: 1, limit: undefined, load: { tokens: undefined } });
      expect(await slotTokens(store.jobId)).toEqual([null]);
      // Then a limit is stored and the one ahead holds a batch: the two do not fit together.
      await pool.query('UPDATE kbatch.quota_slot SET held = true WHERE job_id = $1', [a.jobId]);
      await pool.query('INSERT INTO kbatch.quota_limit (quota_key, max_enqueued_tokens) VALUES ($1, $2)', [KEY(), ONE_AT_A_TIME]);
      expect(await quota.acquire(part, { force: false })).toMatchObject({ granted: false, ahead: 0, limit: ONE_AT_A_TIME, load: { tokens: partTokens('waiting') } });
      expect(await slotTokens(store.jobId)).toEqual([String(partTokens('waiting'))]);
      await pool.query('DELETE FROM kbatch.quota_slot WHERE job_id = $1', [a.jobId]);
      expect((await quota.acquire(part, { force: false })).granted).toBe(true);
    } finally {
      await quota.close([]);
      await presence.close();
    }
  }, 60_000);

  it('makes a part under a limit wait for a batch created with no limit in place (its tokens unknown: NULL), naming its job', async () => {
    const { store: free, part } = await preparedJob('free');
    const quota = quotaOf(free, undefined);
    const { dir, ids } = await writeChunks('limited', 1);
    const store = await open('limited');
    try {
      expect((await quota.acquire(part, { force: false })).granted).toBe(true);
      expect(await slotTokens(free.jobId)).toEqual([null]);
      // A limit far above any part's tokens: the part still waits, as that batch may hold the whole quota.
      const said: string[] = [];
      const error = await catchError(() =>
        runBatchJob({ chunks: [dir], client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: 100 * PART_TOKENS, timeoutMs: 400, onProgress: (e) => e.type === 'warning' && said.push(e.message) }),
      );
      expectKbatchError(error, { code: 'AWAIT_TIMEOUT' });
      expect(said).toEqual([expect.stringMatching(new RegExp(`; job ${free.jobId} has a batch created with no limit in place, its tokens not counted: it fills the limit until it ends$`))]);
      // Once that batch ends (its slot given back), the waiting job completes.
      await quota.release(part);
      const summary = await resumeJob(store.dir, { client: client(), store, pollIntervalMs: 20, maxEnqueuedTokens: 100 * PART_TOKENS });
      expect(summary.succeeded).toBe(ids.length);
    } finally {
      await quota.close([]);
    }
  }, 60_000);

  it('refuses an invalid limit, and a limit without a database store, before anything is sent', async () => {
    const { dir } = await writeChunks('bad', 1);
    const created = emu.stats().batchesCreated;
    expectKbatchError(await catchError(() => runBatchJob({ chunks: [dir], client: client(), maxEnqueuedTokens: -1 })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `maxEnqueuedTokens`: must be a positive integer, got -1',
    });
    const jobDir = join(await mkdtemp(join(tmpdir(), 'kbatch-quota-local-')), 'job');
    expectKbatchError(await catchError(() => runBatchJob({ chunks: [dir], jobDir, client: client(), maxEnqueuedTokens: 100 })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `maxEnqueuedTokens`: needs the job state in a database',
    });
    expect(emu.stats().batchesCreated).toBe(created);
  });
});
