import { describe, expect, it } from 'vitest';
import OpenAI, { APIConnectionError } from 'openai';
import { createBatch, readJsonl, requestLine, waitForBatch, withEmulator, MODEL } from './helpers/emulator.js';

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

  it('forces expiry after N lines (expireAfterLines), keeping partial output', async () => {
    await withEmulator({ faults: { expireAfterLines: 4 } }, async ({ client }) => {
      const lines = Array.from({ length: 10 }, (_, i) => requestLine(`r${i}`, `x${i}`));
      const b = await waitForBatch(client, (await createBatch(client, lines)).id);
      expect(b.status).toBe('expired');
      expect(b.request_counts).toEqual({ total: 10, completed: 4, failed: 0 });
      expect(await readJsonl(client, b.output_file_id!)).toHaveLength(4);
    });
  });

});
