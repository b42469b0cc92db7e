import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { APIConnectionError, APIError } from 'openai';
import { geminiJson, geminiRequest, geminiUrl, type GeminiHttp } from '../../../src/providers/gemini/gemini-http.js';
import { catchError } from '../../helpers/errors.js';

describe('geminiRequest', () => {
  let server: Server;
  let http: GeminiHttp;
  const seen: Array<{ url: string; key: string | undefined }> = [];
  let failures = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ url: req.url!, key: req.headers['x-goog-api-key'] as string | undefined });
        if (failures > 0) {
          failures--;
          res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
          res.end(JSON.stringify({ error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } }));
        } else res.end(req.url?.includes('empty') ? '' : JSON.stringify({ ok: true }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    http = { origin: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, apiKey: 'g-key', maxRetries: 2 };
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('joins origin, path and the defined query values into one URL', () => {
    expect(geminiUrl({ ...http, origin: 'https://x.test/' }, '/v1beta/batches', { pageSize: 5, pageToken: undefined })).toBe('https://x.test/v1beta/batches?pageSize=5');
  });

  it('sends x-goog-api-key, retries a 503 (Retry-After) up to maxRetries, and reads an empty body as {}', async () => {
    seen.length = 0;
    failures = 2;
    expect(await geminiJson(http, { method: 'GET', path: 'v1beta/batches/a' })).toEqual({ ok: true });
    expect(seen.map((s) => s.key)).toEqual(['g-key', 'g-key', 'g-key']);
    expect(await geminiJson(http, { method: 'GET', path: 'v1beta/empty' })).toEqual({});
  });

  it('gives up after maxRetries with the openai SDK\'s error of that status, and never retries a request with a raw body', async () => {
    failures = 5;
    const err = (await catchError(() => geminiRequest({ ...http, maxRetries: 1 }, { method: 'GET', path: 'v1beta/batches/a' }))) as APIError;
    expect(err).toBeInstanceOf(APIError);
    expect([err.status, err.headers?.get('retry-after')]).toEqual([503, '0']);
    seen.length = 0;
    failures = 1;
    expect(((await catchError(() => geminiRequest(http, { method: 'POST', path: 'upload', body: Buffer.from('x') }))) as APIError).status).toBe(503);
    expect(seen).toHaveLength(1);
    failures = 0;
  });

  it('reports a refused connection as APIConnectionError (transient for the callers\' retry rules)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await catchError(() => geminiRequest({ ...http, origin: `http://127.0.0.1:${port}`, maxRetries: 0 }, { method: 'GET', path: 'v1beta/models' }));
    expect(err).toBeInstanceOf(APIConnectionError);
  });
});
