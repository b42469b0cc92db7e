import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createBatch, readJsonl, requestLine, waitForBatch, FAST, MODEL } from './helpers/emulator.js';
import { startEmulator } from '../src/index.js';

describe('upstream', () => {
  it('executes chat requests and batch lines against another OpenAI-compatible endpoint with bounded concurrency and retries', async () => {
    const upstream = await startEmulator({ ...FAST, apiKey: 'up-key', responder: () => 'from upstream', faults: { latencyMs: 20, rate429: 0.2, retryAfterSeconds: 0.001 } });
    const front = await startEmulator({ ...FAST, upstream: { url: upstream.baseURL, apiKey: 'up-key', concurrency: 3, maxAttempts: 10 } });
    try {
      const client = new OpenAI({ baseURL: front.baseURL, apiKey: 'x', maxRetries: 0 });
      const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
      expect(chat.choices[0]!.message.content).toBe('from upstream');

      let text = '';
      for await (const chunk of await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true })) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe('from upstream');

      const lines = Array.from({ length: 20 }, (_, i) => requestLine(`r${i}`, `q${i}`));
      const b = await waitForBatch(client, (await createBatch(client, lines)).id);
      expect(b.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
      const out = await readJsonl(client, b.output_file_id!);
      expect(new Set(out.map((o) => o.response.body.choices[0].message.content))).toEqual(new Set(['from upstream']));
      const stats = upstream.stats();
      expect(stats.maxConcurrentChat).toBeLessThanOrEqual(3);
      expect(stats.maxConcurrentChat).toBeGreaterThan(1);
      expect(stats.chatRequests).toBe(22);
      expect(stats.requests['POST /v1/chat/completions']).toBeGreaterThan(22);
    } finally {
      await front.close();
      await upstream.close();
    }
  });

  it('relays upstream errors (status and body) to the error file', async () => {
    const upstream = await startEmulator({ ...FAST });
    const front = await startEmulator({ ...FAST, upstream: { url: upstream.baseURL, maxAttempts: 1 } });
    try {
      const client = new OpenAI({ baseURL: front.baseURL, apiKey: 'x', maxRetries: 0 });
      // The front skips model checks in upstream mode; the upstream answers 404 for the unknown model.
      const b = await waitForBatch(client, (await createBatch(client, [requestLine('a', 'x', { model: 'local-llama' })])).id);
      expect(b.request_counts).toMatchObject({ completed: 0, failed: 1 });
      const [err] = await readJsonl(client, b.error_file_id!);
      expect(err.response).toMatchObject({ status_code: 404, body: { error: { code: 'model_not_found' } } });
    } finally {
      await front.close();
      await upstream.close();
    }
  });
});
