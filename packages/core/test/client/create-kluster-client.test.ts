import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientProvider, createClient, createKlusterClient, KLUSTER_BASE_URL } from '../../src/client/create-kluster-client.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('createKlusterClient', () => {
  it('rejects a missing key with API_KEY_MISSING naming KLUSTER_API_KEY', async () => {
    const err = await catchError(() => createKlusterClient({ env: {} }));
    expectKbatchError(err, { code: 'API_KEY_MISSING', message: 'KLUSTER_API_KEY' });
  });

  it('reads KLUSTER_API_KEY and KLUSTER_BASE_URL from env, defaulting to kluster.ai', () => {
    const a = createKlusterClient({ env: { KLUSTER_API_KEY: 'k1' } });
    expect(a.baseURL).toBe(KLUSTER_BASE_URL);
    expect(a.apiKey).toBe('k1');
    const b = createKlusterClient({ env: { KLUSTER_API_KEY: 'k1', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' } });
    expect(b.baseURL).toBe('http://127.0.0.1:9/v1');
  });

  it('lets options override the environment and ignores OPENAI_* variables', () => {
    const c = createKlusterClient({
      apiKey: 'k2',
      baseURL: 'http://127.0.0.1:1/v1',
      env: { KLUSTER_API_KEY: 'k1', OPENAI_BASE_URL: 'http://127.0.0.1:2/v1' },
      maxRetries: 5,
      timeout: 1000,
    });
    expect([c.apiKey, c.baseURL, c.maxRetries, c.timeout]).toEqual(['k2', 'http://127.0.0.1:1/v1', 5, 1000]);
  });

  it('rejects a bad option with OPTION_INVALID', async () => {
    const err = await catchError(() => createKlusterClient({ apiKey: 'k', maxRetries: -1 }));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: /`maxRetries`: must be a non-negative integer, got -1/ });
  });
});

describe('createKlusterClient with process.env', () => {
  it('accepts process.env itself', () => {
    const saved = process.env['KLUSTER_API_KEY'];
    process.env['KLUSTER_API_KEY'] = 'from-process';
    try {
      expect(createKlusterClient({ env: process.env }).apiKey).toBe('from-process');
    } finally {
      if (saved === undefined) delete process.env['KLUSTER_API_KEY'];
      else process.env['KLUSTER_API_KEY'] = saved;
    }
  });
});

describe('createClient with a provider', () => {
  it("reads the provider's key and base-URL variables, defaulting to its base URL, and notes its provider", () => {
    const openai = createClient({ provider: 'openai', env: { OPENAI_API_KEY: 'o1', KLUSTER_API_KEY: 'k1' } });
    expect([openai.apiKey, openai.baseURL]).toEqual(['o1', 'https://api.openai.com/v1']);
    expect(clientProvider(openai)).toEqual({ provider: 'openai', baseURL: 'https://api.openai.com/v1' });
    const groq = createClient({ provider: 'groq', env: { GROQ_API_KEY: 'g1', GROQ_BASE_URL: 'http://127.0.0.1:9/openai/v1' } });
    expect([groq.apiKey, groq.baseURL]).toEqual(['g1', 'http://127.0.0.1:9/openai/v1']);
    expect(clientProvider(createKlusterClient({ apiKey: 'k' }))?.provider).toBe('kluster');
    expect(clientProvider({})).toBeUndefined();
  });

  it("rejects a missing key with API_KEY_MISSING naming the provider's variable", async () => {
    expectKbatchError(await catchError(() => createClient({ provider: 'together', env: { KLUSTER_API_KEY: 'k' } })), { code: 'API_KEY_MISSING', message: 'TOGETHER_API_KEY' });
  });

  it('rejects an unknown provider, and openai-compatible without a base URL, with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => createClient({ provider: 'nope', apiKey: 'k' })), { code: 'OPTION_INVALID', message: /`provider`: must be one of kluster, / });
    expectKbatchError(await catchError(() => createClient({ provider: 'openai-compatible', apiKey: 'k', env: {} })), { code: 'OPTION_INVALID', field: 'baseURL', message: '--base-url' });
    expect(createClient({ provider: 'openai-compatible', env: { OPENAI_COMPATIBLE_API_KEY: 'o', OPENAI_COMPATIBLE_BASE_URL: 'http://127.0.0.1:1/v1' } }).baseURL).toBe('http://127.0.0.1:1/v1');
  });

  it("never sends a real OpenAI key (OPENAI_API_KEY) to an openai-compatible server: API_KEY_MISSING naming its own variable", async () => {
    const env = { OPENAI_API_KEY: 'sk-real-openai', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' };
    expectKbatchError(await catchError(() => createClient({ provider: 'openai-compatible', baseURL: 'http://127.0.0.1:2/v1', env })), { code: 'API_KEY_MISSING', message: 'OPENAI_COMPATIBLE_API_KEY' });
    expect(createClient({ provider: 'openai-compatible', apiKey: 'k', env: { ...env, OPENAI_COMPATIBLE_BASE_URL: 'http://127.0.0.1:3/v1' } }).baseURL).toBe('http://127.0.0.1:3/v1');
  });

  it('sends the key as Authorization: Bearer (what Bearer-only providers require)', async () => {
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader('content-type', 'application/json');
      res.end('{"object":"list","data":[]}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const { port } = server.address() as AddressInfo;
      for (const provider of ['openai', 'together', 'groq', 'openai-compatible']) {
        await createClient({ provider, apiKey: `key-${provider}`, baseURL: `http://127.0.0.1:${port}/v1` }).models.list();
      }
      expect(seen).toEqual(['Bearer key-openai', 'Bearer key-together', 'Bearer key-groq', 'Bearer key-openai-compatible']);
    } finally {
      server.close();
    }
  });
});
