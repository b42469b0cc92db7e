import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { chatSettled, startEmulator } from '../src/index.js';

describe('chatSettled', () => {
  it('waits for requests still in flight (a stopped client) and returns the chat count once it stops moving', async () => {
    const emu = await startEmulator({ faults: { latencyMs: 100, routes: ['POST /v1/chat/completions'] } });
    const client = new OpenAI({ apiKey: 'k', baseURL: emu.baseURL, maxRetries: 0 });
    try {
      const body = { model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', messages: [{ role: 'user' as const, content: 'hi' }] };
      const pending = [client.chat.completions.create(body), client.chat.completions.create(body)];
      expect(await chatSettled(emu)).toBe(2);
      await Promise.all(pending);
      expect(await chatSettled(emu, { quietMs: 20 })).toBe(2);
    } finally {
      await emu.close();
    }
  });
});
