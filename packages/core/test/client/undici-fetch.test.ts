import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { startEmulator } from '@kbatch/emulator';
import OpenAI, { APIConnectionError, APIUserAbortError, NotFoundError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUndiciFetch, type UndiciFetch } from '../../src/client/undici-fetch.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

/** A loopback server whose handler the test supplies. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
const closeServer = (server: Server) => new Promise<void>((r) => server.close(() => r()));

describe('createUndiciFetch', () => {
  let emu: Emulator;
  let fetch: UndiciFetch;
  let openai: OpenAI;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 3, timeScale: 0.001 });
    fetch = createUndiciFetch({ connections: 8 });
    openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL, fetch, maxRetries: 0 });
  });
  afterAll(async () => {
    await fetch.close();
    await emu.close();
  });

  it('serves the openai client: chat completion with request id, usage and headers', async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'Say hi' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toEqual(expect.any(String));
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(emu.stats().chatRequests).toBeGreaterThan(0);
  });

  it('streams chat completions (SSE body through a web ReadableStream)', async () => {
    const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text.length).toBeGreaterThan(0);
  });

  it('turns HTTP errors into the SDK error classes with status, body and headers', async () => {
    const err = await catchError(() => openai.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).status).toBe(404);
    expect((err as NotFoundError).headers?.get('content-type')).toMatch(/json/);
  });

  it('uploads multipart files (FormData body) and downloads them (binary response body)', async () => {
    const content = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}\n';
    const file = await openai.files.create({ file: await OpenAI.toFile(Buffer.from(content), 'in.jsonl'), purpose: 'batch' });
    expect(file.bytes).toBe(Buffer.byteLength(content));
    const response = await openai.files.content(file.id);
    const chunks: Buffer[] = [];
    for await (const chunk of Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(content);
  });

  it('rejects a refused connection as fetch does, which the SDK reports as APIConnectionError', async () => {
    const { url, server } = await serve(() => undefined);
    await closeServer(server);
    const err = await catchError(() => fetch(url));
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).message).toBe('fetch failed');
    expect((err as TypeError).cause).toBeDefined();
    const client = new OpenAI({ apiKey: 'x', baseURL: `${url}/v1`, fetch, maxRetries: 0 });
    expect(await catchError(() => client.models.list())).toBeInstanceOf(APIConnectionError);
  });

  it('aborts a request waiting for headers, and a body being read', async () => {
    let release: (() => void) | undefined;
    const { url, server } = await serve((req, res) => {
      if (req.url === '/slow-head') {
        release = () => res.end('late');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part');
    });
    try {
      const before = new AbortController();
      const pending = fetch(`${url}/slow-head`, { signal: before.signal });
      while (!release) await new Promise((r) => setTimeout(r, 5));
      before.abort();
      expect(((await catchError(() => pending)) as Error).name).toBe('AbortError');
      release();

      const after = new AbortController();
      const res = await fetch(`${url}/slow-body`, { signal: after.signal });
      expect(res.status).toBe(200);
      const text = res.text();
      after.abort();
      expect(((await catchError(() => text)) as Error).name).toBe('AbortError');

      const client = new OpenAI({ apiKey: 'x', baseURL: `${url}/v1`, fetch, maxRetries: 0 });
      const sdkAbort = new AbortController();
      const sdkPending = client.models.list({ signal: sdkAbort.signal });
      sdkAbort.abort();
      expect(await catchError(() => sdkPending)).toBeInstanceOf(APIUserAbortError);
    } finally {
      server.closeAllConnections();
      await closeServer(server);
    }
  });

  it('sends a streamed body with backpressure: the producer never runs far ahead of a slow server', async () => {
    const CHUNK = 64 * 1024;
    const TOTAL = 32 * 1024 * 1024;
    let received = 0;
    let maxAhead = 0;
    const { url, server } = await serve((req, res) => {
      // Pause after every chunk, resume on the next turn: a server much slower than the producer.
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        req.pause();
        setImmediate(() => req.resume());
      });
      req.on('end', () => res.end(String(received)));
    });
    let produced = 0;
    async function* body() {
      const chunk = Buffer.alloc(CHUNK, 120);
      while (produced < TOTAL) {
        produced += CHUNK;
        maxAhead = Math.max(maxAhead, produced - received);
        yield chunk;
      }
    }
    try {
      const res = await fetch(`${url}/upload`, { method: 'POST', body: Readable.from(body()) as unknown as BodyInit, duplex: 'half' } as RequestInit);
      expect(await res.text()).toBe(String(TOTAL));
      // Socket buffers (kernel + stream high-water marks) hold a few MB at most; without backpressure it would be ~32 MB.
      expect(maxAhead).toBeLessThan(12 * 1024 * 1024);
    } finally {
      await closeServer(server);
    }
  });

  it('follows a 303 redirect with GET, as fetch does', async () => {
    const { url, server } = await serve((req, res) => {
      if (req.url === '/from') {
        res.writeHead(303, { location: '/to' });
        res.end();
      } else res.end(`${req.method} ${req.url}`);
    });
    try {
      const res = await fetch(`${url}/from`, { method: 'POST', body: 'x' });
      expect(res.redirected).toBe(true);
      expect(await res.text()).toBe('GET /to');
    } finally {
      await closeServer(server);
    }
  });

  it('reads bodies through json(), text(), arrayBuffer() once, and clone() keeps a copy', async () => {
    const { url, server } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] });
      res.end('{"ok":true}');
    });
    try {
      const res = await fetch(url);
      expect(res.headers.get('x-multi')).toBe('a, b');
      const copy = res.clone();
      expect(await res.json()).toEqual({ ok: true });
      expect(res.bodyUsed).toBe(true);
      await expect(res.text()).rejects.toThrow(TypeError);
      expect(await copy.text()).toBe('{"ok":true}');
      const bytes = await (await fetch(url)).arrayBuffer();
      expect(Buffer.from(bytes).toString()).toBe('{"ok":true}');
    } finally {
      await closeServer(server);
    }
  });

  it('rejects invalid options with OPTION_INVALID', () => {
    let err: unknown;
    try {
      createUndiciFetch({ connections: 0 });
    } catch (e) {
      err = e;
    }
    expectKbatchError(err, { code: 'OPTION_INVALID', message: /connections/ });
  });
});
