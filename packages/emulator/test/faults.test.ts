import { describe, expect, it } from 'vitest';
import OpenAI, { APIConnectionError } from 'openai';
import { createBatch, readJsonl, requestLine, uploadJsonl, waitForBatch, withEmulator, MODEL } from './helpers/emulator.js';

const chat = (client: OpenAI) => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });

describe('faults', () => {
  it('answers 429 with Retry-After and retry-after-ms on a fraction of requests', async () => {
    await withEmulator({ faults: { rate429: 1, retryAfterSeconds: 0.01 } }, async ({ client }) => {
      const err = await chat(client).catch((e) => e);
      expect(err).toMatchObject({ status: 429, error: { code: 'rate_limit_exceeded', type: 'rate_limit_error' } });
      expect(err.headers.get('retry-after')).toBe('1');
      expect(err.headers.get('retry-after-ms')).toBe('10');
    });
  });

  it('lets SDK retries get through a partial 429 rate (seeded)', async () => {
    await withEmulator({ faults: { rate429: 0.5, retryAfterSeconds: 0.001 } }, async ({ client, emu }) => {
      for (let i = 0; i < 5; i++) await expect(chat(client)).resolves.toMatchObject({ object: 'chat.completion' });
      expect(emu.stats().requests['POST /v1/chat/completions']).toBeGreaterThan(5);
    }, { maxRetries: 10 });
  });

  it('answers a seeded random fraction of chat requests 429 (Retry-After) and drops another, the same ones for the same seed', async () => {
    const outcomes = () =>
      withEmulator({ seed: 4, faults: { rate429: 0.2, dropRate: 0.1, retryAfterSeconds: 1 } }, async ({ client }) => {
        const seen: string[] = [];
        for (let i = 0; i < 100; i++) {
          const err = await chat(client).then(() => undefined, (e: unknown) => e);
          if (err === undefined) seen.push('ok');
          else if (err instanceof APIConnectionError) seen.push('dropped');
          else seen.push((err as { status?: number }).status === 429 && (err as { headers: Headers }).headers.get('retry-after') === '1' ? '429' : 'other');
        }
        return seen;
      }, { maxRetries: 0 });
    const first = await outcomes();
    const count = (kind: string) => first.filter((o) => o === kind).length;
    expect(count('other')).toBe(0);
    expect(count('429')).toBeGreaterThanOrEqual(8); // ~18 expected (20% of those not dropped)
    expect(count('429')).toBeLessThanOrEqual(30);
    expect(count('dropped')).toBeGreaterThanOrEqual(3); // ~10 expected
    expect(count('dropped')).toBeLessThanOrEqual(20);
    expect(await outcomes()).toEqual(first);
  });

  it('answers 500/502/503 on a fraction of requests', async () => {
    await withEmulator({ faults: { rate5xx: 1 } }, async ({ client }) => {
      const statuses = new Set<number>();
      for (let i = 0; i < 12; i++) statuses.add((await chat(client).catch((e) => e)).status);
      expect([...statuses].sort()).toEqual([500, 502, 503]);
    });
  });

  it('drops connections without a response', async () => {
    await withEmulator({ faults: { dropRate: 1 } }, async ({ client }) => {
      await expect(chat(client)).rejects.toBeInstanceOf(APIConnectionError);
    });
  });

  it('adds latency (requests overlap)', async () => {
    await withEmulator({ faults: { latencyMs: 100 } }, async ({ client, emu }) => {
      await Promise.all([chat(client), chat(client), chat(client)]);
      expect(emu.stats().maxConcurrentChat).toBe(3);
    });
  });

  it('answers 429 beyond the concurrency cap', async () => {
    await withEmulator({ faults: { concurrencyCap: 2, latencyMs: 100 } }, async ({ client }) => {
      const results = await Promise.allSettled([chat(client), chat(client), chat(client), chat(client)]);
      const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      expect(rejected.map((r) => r.reason.status)).toEqual([429, 429]);
    });
  });

  it('limits HTTP faults to the listed routes and changes them at runtime with setFaults', async () => {
    await withEmulator({}, async ({ client, emu }) => {
      emu.setFaults({ rate429: 1, routes: ['GET /v1/models'] });
      await expect(chat(client)).resolves.toBeDefined();
      await expect(client.models.list()).rejects.toMatchObject({ status: 429 });
      emu.setFaults({ routes: ['POST /v1/chat/completions'] });
      await expect(client.models.list()).resolves.toBeDefined();
      await expect(chat(client)).rejects.toMatchObject({ status: 429 });
      emu.setFaults(null);
      await expect(chat(client)).resolves.toBeDefined();
      expect(() => emu.setFaults({ rate429: 2 })).toThrow('Invalid option `faults.rate429`: must be a number between 0 and 1, got 2');
    });
  });

  it('fails a seeded fraction of batch lines into the error file (lineFailureRate)', async () => {
    const run = async () =>
      withEmulator({ faults: { lineFailureRate: 0.3 }, seed: 3 }, async ({ client }) => {
        const lines = Array.from({ length: 50 }, (_, i) => requestLine(`r${i}`, `x${i}`));
        const b = await waitForBatch(client, (await createBatch(client, lines)).id);
        expect(b.request_counts!.failed).toBeGreaterThan(0);
        expect(b.request_counts!.completed + b.request_counts!.failed).toBe(50);
        const errs = await readJsonl(client, b.error_file_id!);
        expect(errs[0].response.status_code).toBe(500);
        expect(errs[0].response.body.error.code).toBe('server_error');
        return b.request_counts!.failed;
      });
    expect(await run()).toBe(await run());
  });

  it('fails lines with the status lineFailureStatus gives (a 400 is invalid_request)', async () => {
    await withEmulator({ faults: { lineFailureRate: 1, lineFailureStatus: 400 } }, async ({ client }) => {
      const b = await waitForBatch(client, (await createBatch(client, [requestLine('r0', 'x'), requestLine('r1', 'y')])).id);
      expect(b.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
      const errs = await readJsonl(client, b.error_file_id!);
      expect(errs.map((e) => [e.response.status_code, e.response.body.error.code])).toEqual([
        [400, 'invalid_request'],
        [400, 'invalid_request'],
      ]);
    });
  });

  it('forces expiry after N lines (expireAfterLines), keeping partial output', async () => {
    await withEmulator({ faults: { expireAfterLines: 4 } }, async ({ client }) => {
      const lines = Array.from({ length: 10 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const b = await waitForBatch(client, (await createBatch(client, lines)).id);
      expect(b.status).toBe('expired');
      expect(b.request_counts).toEqual({ total: 10, completed: 4, failed: 0 });
      expect(await readJsonl(client, b.output_file_id!)).toHaveLength(4);
    });
  });

  it('processes the request, then loses the response (loseResponseRate): the batch exists although the client saw an error', async () => {
    await withEmulator({}, async ({ client, emu }) => {
      const file = await uploadJsonl(client, [requestLine('r0', 'x')]);
      emu.setFaults({ loseResponseRate: 1, routes: ['POST /v1/batches'] });
      const err = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e) => e);
      expect(err).toBeInstanceOf(APIConnectionError);
      emu.setFaults(null);
      const listed = await client.batches.list();
      expect(listed.data.map((b) => b.input_file_id)).toEqual([file.id]);
      expect(emu.stats().batchesCreated).toBe(1);
    });
  });

  it('loses fine-tuning job creations too (loseResponseRate on POST /v1/fine_tuning/jobs)', async () => {
    await withEmulator({ faults: { loseResponseRate: 1, routes: ['POST /v1/fine_tuning/jobs'] } }, async ({ client }) => {
      const file = await uploadJsonl(client, [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }], 'fine-tune');
      await expect(client.fineTuning.jobs.create({ model: MODEL, training_file: file.id })).rejects.toBeInstanceOf(APIConnectionError);
      const jobs = await client.fineTuning.jobs.list();
      expect(jobs.data.map((j) => j.training_file)).toEqual([file.id]);
    });
  });

  it('writes batch_expired markers for requests that never ran (unrunErrorLines), counted as failed', async () => {
    await withEmulator({ unrunErrorLines: true, faults: { expireAfterLines: 4 } }, async ({ client }) => {
      const lines = Array.from({ length: 10 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const b = await waitForBatch(client, (await createBatch(client, lines)).id);
      expect(b.status).toBe('expired');
      expect(b.request_counts).toEqual({ total: 10, completed: 4, failed: 6 });
      const done = (await readJsonl(client, b.output_file_id!)).map((o) => o.custom_id);
      const errs = await readJsonl(client, b.error_file_id!);
      expect(errs.map((e) => e.custom_id).sort()).toEqual(['r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
      expect(done.sort()).toEqual(['r0', 'r1', 'r2', 'r3']);
      expect(errs[0]).toEqual({ id: expect.stringMatching(/^batch_req_/), custom_id: expect.any(String), response: null, error: { code: 'batch_expired', message: expect.any(String) } });
    });
  });

  it('writes no never-ran markers by default (kluster style)', async () => {
    await withEmulator({ faults: { expireAfterLines: 4 } }, async ({ client }) => {
      const lines = Array.from({ length: 10 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const b = await waitForBatch(client, (await createBatch(client, lines)).id);
      expect(b.error_file_id).toBeNull();
    });
  });

  it('writes batch_cancelled markers for requests a cancelled batch never ran (unrunErrorLines)', async () => {
    await withEmulator({ unrunErrorLines: true, lineMs: 10, finalizingMs: 30 }, async ({ client }) => {
      const lines = Array.from({ length: 200 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const b = await createBatch(client, lines);
      await waitForBatch(client, b.id, ['in_progress']);
      await new Promise((r) => setTimeout(r, 50));
      await client.batches.cancel(b.id);
      const done = await waitForBatch(client, b.id);
      expect(done.status).toBe('cancelled');
      const out = await readJsonl(client, done.output_file_id!);
      const errs = await readJsonl(client, done.error_file_id!);
      expect(errs.every((e) => e.response === null && e.error.code === 'batch_cancelled')).toBe(true);
      expect(out.length + errs.length).toBe(200);
      expect(done.request_counts).toEqual({ total: 200, completed: out.length, failed: errs.length });
      expect(new Set([...out, ...errs].map((o) => o.custom_id)).size).toBe(200);
    });
  });

  it('stalls the last N lines of a batch (slowTailLines); a cancel lets the straggler in flight finish, the rest never run', async () => {
    await withEmulator({ unrunErrorLines: true, faults: { slowTailLines: 3, slowTailMs: 60_000 } }, async ({ client }) => {
      const lines = Array.from({ length: 10 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const b = await createBatch(client, lines);
      let stalled = await client.batches.retrieve(b.id);
      for (let i = 0; i < 500 && stalled.request_counts.completed < 7; i++) {
        await new Promise((r) => setTimeout(r, 10));
        stalled = await client.batches.retrieve(b.id);
      }
      expect(stalled).toMatchObject({ status: 'in_progress', request_counts: { total: 10, completed: 7, failed: 0 } });
      await new Promise((r) => setTimeout(r, 50));
      expect((await client.batches.retrieve(b.id)).request_counts.completed).toBe(7);
      expect((await client.batches.cancel(b.id)).status).toBe('cancelling');
      const done = await waitForBatch(client, b.id);
      expect(done).toMatchObject({ status: 'cancelled', request_counts: { total: 10, completed: 8, failed: 2 } });
      const out = (await readJsonl(client, done.output_file_id!)).map((o) => o.custom_id).sort();
      const errs = await readJsonl(client, done.error_file_id!);
      expect(out).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
      expect(errs.map((e) => [e.custom_id, e.error.code]).sort()).toEqual([['r8', 'batch_cancelled'], ['r9', 'batch_cancelled']]);
    });
  });

  it('runs the slow tail to completion when nobody cancels (slowTailMs)', async () => {
    await withEmulator({ faults: { slowTailLines: 2, slowTailMs: 30 } }, async ({ client }) => {
      const lines = Array.from({ length: 5 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const done = await waitForBatch(client, (await createBatch(client, lines)).id);
      expect(done).toMatchObject({ status: 'completed', request_counts: { total: 5, completed: 5, failed: 0 } });
    });
  });
});
