import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { setup, withEmulator } from './helpers/emulator.js';
import { startEmulator } from '../src/index.js';

describe('startEmulator', () => {
  it('rejects invalid options with a message naming the option', async () => {
    await expect(startEmulator({ timeScale: -1 })).rejects.toThrow('Invalid option `timeScale`: must be a positive number, got -1');
    await expect(startEmulator({ faults: { dropRate: 3 } })).rejects.toThrow('Invalid option `faults.dropRate`');
    await expect(startEmulator({ faults: { routes: ['files'] } })).rejects.toThrow('Invalid option `faults.routes.0`');
    await expect(startEmulator({ nope: 1 } as never)).rejects.toThrow(/Invalid/);
  });
});

describe('auth', () => {
  it('requires the API key as `Bearer K` or bare `K`, else 401', async () => {
    const { emu, client } = await setup({ apiKey: 'sekret' }, { apiKey: 'sekret' });
    try {
      await expect(client.models.list()).resolves.toBeDefined();
      const bare = await fetch(`${emu.baseURL}/models`, { headers: { authorization: 'sekret' } });
      expect(bare.status).toBe(200);
      const wrong = new OpenAI({ baseURL: emu.baseURL, apiKey: 'wrong', maxRetries: 0 });
      await expect(wrong.models.list()).rejects.toMatchObject({ status: 401, error: { code: 'invalid_api_key', type: 'authentication_error' } });
      const missing = await fetch(`${emu.baseURL}/models`);
      expect(missing.status).toBe(401);
    } finally {
      await emu.close();
    }
  });

  it('accepts any key when none is configured', async () => {
    await withEmulator({}, async ({ emu }) => {
      expect((await fetch(`${emu.baseURL}/models`)).status).toBe(200);
    });
  });
});

describe('startEmulator with bearerOnly', () => {
  it('refuses the bare key with 401 and takes it as Authorization: Bearer (the official client)', async () => {
    await withEmulator({ apiKey: 'sk-test', bearerOnly: true }, async ({ emu, client }) => {
      expect((await fetch(`${emu.baseURL}/models`, { headers: { authorization: 'sk-test' } })).status).toBe(401);
      expect((await client.models.list()).data.length).toBeGreaterThan(0);
    }, { apiKey: 'sk-test' });
    await withEmulator({ apiKey: 'sk-test' }, async ({ emu }) => {
      // kluster's personality (the default) takes the bare key too.
      expect((await fetch(`${emu.baseURL}/models`, { headers: { authorization: 'sk-test' } })).status).toBe(200);
    });
  });
});
