import { describe, expect, it } from 'vitest';
import { createKlusterClient, KLUSTER_BASE_URL } from '../../src/client/create-kluster-client.js';
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
