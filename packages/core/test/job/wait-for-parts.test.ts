import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { NotFoundError } from 'openai';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runBatchJob } from '../../src/job/batch-job.js';
import { emulatorClient, writeChunks } from './fixtures.js';

const LIST = 'GET /v1/batches';
const GET = 'GET /v1/batches/:id';

describe('waitForParts', () => {
  let emu: Emulator;
  beforeAll(async () => {
    // Slow enough lines that several batches stay in flight for many poll rounds.
    emu = await startEmulator({ seed: 1, validationMs: 10, lineMs: 30, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  const requests = (key: string): number => emu.stats().requests[key] ?? 0;

  it('polls several batches in flight with one listing per round, and fetches each finished batch on its own', async () => {
    const { dir, root } = await writeChunks(4, 20);
    // Its own slower server: batches stay in flight for many rounds even when a loaded machine makes rounds slow.
    const slow = await startEmulator({ seed: 1, validationMs: 10, lineMs: 100, finalizingMs: 10 });
    let listed: number;
    let fetched: number;
    try {
      const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client: emulatorClient(slow.baseURL), concurrency: 4, pollIntervalMs: 20, retryBaseMs: 10 });
      expect(summary).toMatchObject({ state: 'completed', requests: 80, succeeded: 80, failed: 0 });
      [listed, fetched] = [slow.stats().requests[LIST] ?? 0, slow.stats().requests[GET] ?? 0];
    } finally {
      await slow.close();
    }
    expect(listed).toBeGreaterThan(5);
    // A GET per batch once the listing shows it finished, a few more while fewer than two are in flight: far fewer than a GET per batch per round.
    expect(fetched).toBeGreaterThanOrEqual(4);
    expect(fetched).toBeLessThan(listed);
  });

  it('polls batch by batch from then on when the server refuses the listing', async () => {
    const { dir, root } = await writeChunks(3, 10);
    const client = emulatorClient(emu.baseURL);
    let listings = 0;
    client.batches.list = (() => {
      listings++;
      return Promise.reject(new NotFoundError(404, { message: 'no listing here' }, 'no listing here', new Headers()));
    }) as never;
    const gets = requests(GET);
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client, concurrency: 3, pollIntervalMs: 20, retryBaseMs: 10 });
    expect(summary).toMatchObject({ state: 'completed', requests: 30, succeeded: 30, failed: 0 });
    expect(listings).toBe(1);
    expect(requests(GET) - gets).toBeGreaterThan(3);
  });

  it('falls back to a GET for a batch the listing page does not hold', async () => {
    const { dir, root } = await writeChunks(3, 10);
    const client = emulatorClient(emu.baseURL);
    const list = client.batches.list.bind(client.batches);
    let listings = 0;
    // A page crowded with other batches: it never holds this job's.
    client.batches.list = (async (query: unknown, options: unknown) => {
      listings++;
      const page = await list(query as never, options as never);
      return { ...page, data: [] };
    }) as never;
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client, concurrency: 3, pollIntervalMs: 20, retryBaseMs: 10 });
    expect(summary).toMatchObject({ state: 'completed', requests: 30, succeeded: 30, failed: 0 });
    expect(listings).toBeGreaterThan(0);
  });

  it('waits for the result file of a finished batch however many polls saw it running with answers', async () => {
    const { dir, root } = await writeChunks(1, 20);
    const client = emulatorClient(emu.baseURL);
    const retrieve = client.batches.retrieve.bind(client.batches);
    let terminalPolls = 0;
    // A server that names the output file a moment after saying "completed" (its first two answers lack it).
    client.batches.retrieve = (async (id: string, options: unknown) => {
      const batch = await retrieve(id, options as never);
      if (batch.status !== 'completed' || ++terminalPolls > 2) return batch;
      return { ...batch, output_file_id: null };
    }) as never;
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client, pollIntervalMs: 20, retryBaseMs: 10 });
    expect(terminalPolls).toBeGreaterThan(2);
    expect(summary).toMatchObject({ state: 'completed', requests: 20, succeeded: 20, failed: 0 });
  });

  it('cancels no batch for stragglers on the counts of a lagging listing: its own GET must agree', async () => {
    const { dir, root } = await writeChunks(2, 20);
    const client = emulatorClient(emu.baseURL);
    const list = client.batches.list.bind(client.batches);
    const frozen = new Map<string, unknown>();
    // A cached listing: each batch's counts stay as first seen with answers, while its status moves on.
    client.batches.list = (async (query: unknown, options: unknown) => {
      const page = await list(query as never, options as never);
      const data = page.data.map((b) => {
        if (b.request_counts && b.request_counts.completed > 0 && !frozen.has(b.id)) frozen.set(b.id, b.request_counts);
        return frozen.has(b.id) ? { ...b, request_counts: frozen.get(b.id) } : b;
      });
      return { ...page, data };
    }) as never;
    const events: { type: string }[] = [];
    const summary = await runBatchJob({
      chunks: [dir],
      jobDir: join(root, 'job'),
      client,
      concurrency: 2,
      pollIntervalMs: 20,
      retryBaseMs: 10,
      stragglers: { threshold: 19, waitMs: 150 },
      onProgress: (e) => events.push(e),
    });
    expect(frozen.size).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'stragglers')).toHaveLength(0);
    expect(summary).toMatchObject({ state: 'completed', requests: 40, succeeded: 40, failed: 0 });
  });

  it('fetches each batch on its own now and then, so a listing stuck on an old view cannot hold the job', async () => {
    const { dir, root } = await writeChunks(2, 10);
    const client = emulatorClient(emu.baseURL);
    const list = client.batches.list.bind(client.batches);
    const first = new Map<string, unknown>();
    // A cached listing: every batch stays as first listed (running) forever.
    client.batches.list = (async (query: unknown, options: unknown) => {
      const page = await list(query as never, options as never);
      const data = page.data.map((b) => {
        if (!first.has(b.id)) first.set(b.id, b);
        return first.get(b.id);
      });
      return { ...page, data };
    }) as never;
    const summary = await runBatchJob({ chunks: [dir], jobDir: join(root, 'job'), client, concurrency: 2, pollIntervalMs: 20, retryBaseMs: 10, timeoutMs: 20_000 });
    expect(first.size).toBeGreaterThan(0);
    expect(summary).toMatchObject({ state: 'completed', requests: 20, succeeded: 20, failed: 0 });
  });
});
