import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator } from '@kbatch/emulator';
import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIUserAbortError,
  AuthenticationError,
  AzureOpenAI,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectChat, supportsDirectChat } from '../../src/client/direct-chat.js';
import { createUndiciFetch } from '../../src/client/undici-fetch.js';
import { classifyFailure } from '../../src/realtime/retry-policy.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const CHAT = 'POST /v1/chat/completions';
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const body = (content: string) => ({ model: MODEL, messages: [{ role: 'user' as const, content }] });

/** A loopback server recording each request's headers and URL, answering a fixed completion. */
async function recorder(): Promise<{ url: string; seen: { url: string; headers: IncomingHttpHeaders; body: string }[]; close(): Promise<void> }> {
  const seen: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body: text });
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_1' });
      res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 0, model: MODEL, choices: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('createDirectChat', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 11 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('returns the same completion the SDK returns for the same request', async () => {
    const openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL, maxRetries: 0 });
    const chat = createDirectChat(openai, { connections: 2 });
    try {
      const direct = await chat.create({ ...body('Is this good? Answer with exactly one of these labels: yes, no'), seed: 1 });
      const sdk = await openai.chat.completions.create({ ...body('Is this good? Answer with exactly one of these labels: yes, no'), seed: 1 });
      expect(direct.object).toBe('chat.completion');
      expect(direct.choices[0]!.message.content).toBe(sdk.choices[0]!.message.content);
      expect(direct.usage).toEqual(sdk.usage);
    } finally {
      await chat.close();
    }
  });

  it('sends the headers and query the SDK itself sends (auth, organization, default headers and query)', async () => {
    const server = await recorder();
    const options = { apiKey: 'sk-test', baseURL: `${server.url}/v1`, organization: 'org-1', project: 'proj-1', defaultHeaders: { 'x-team': 'labels' }, defaultQuery: { 'api-version': '7' }, maxRetries: 0 };
    const openai = new OpenAI(options);
    const chat = createDirectChat(openai, { connections: 1 });
    try {
      const completion = await chat.create(body('hello'));
      await openai.chat.completions.create(body('hello'));
      expect((completion as unknown as { _request_id: string })._request_id).toBe('req_1');
      const [direct, sdk] = server.seen;
      expect(direct!.url).toBe('/v1/chat/completions?api-version=7');
      expect(direct!.url).toBe(sdk!.url);
      expect(JSON.parse(direct!.body)).toEqual(JSON.parse(sdk!.body));
      const same = ['authorization', 'openai-organization', 'openai-project', 'x-team', 'user-agent', 'accept', 'content-type'];
      for (const name of same) expect([name, direct!.headers[name]]).toEqual([name, sdk!.headers[name]]);
      expect(direct!.headers['authorization']).toBe('Bearer sk-test');
    } finally {
      await chat.close();
      await server.close();
    }
  });

  it("throws the SDK's error classes for HTTP errors, with status, body and headers (Retry-After on a 429)", async () => {
    const local = await startEmulator({ seed: 2, faults: { rate429: 1, retryAfterSeconds: 3, routes: [CHAT] } });
    const chat = createDirectChat(new OpenAI({ apiKey: 'test', baseURL: local.baseURL }), { connections: 1 });
    try {
      const limited = await catchError(() => chat.create(body('q')));
      expect(limited).toBeInstanceOf(RateLimitError);
      expect(classifyFailure(limited)).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 3000 });
      local.setFaults(null);
      local.setFaults({ rate5xx: 1, routes: [CHAT] });
      const failed = await catchError(() => chat.create(body('q')));
      expect(failed).toBeInstanceOf(InternalServerError);
      local.setFaults(null);
      const missing = (await catchError(() => chat.create({ ...body('q'), model: 'no/such-model' }))) as NotFoundError;
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.status).toBe(404);
      expect(missing.error).toMatchObject({ message: expect.stringContaining('no/such-model') });
    } finally {
      await chat.close();
      await local.close();
    }
  });

  it('throws AuthenticationError for a wrong key', async () => {
    const local = await startEmulator({ apiKey: 'right' });
    const chat = createDirectChat(new OpenAI({ apiKey: 'wrong', baseURL: local.baseURL }), { connections: 1 });
    try {
      expect(await catchError(() => chat.create(body('q')))).toBeInstanceOf(AuthenticationError);
    } finally {
      await chat.close();
      await local.close();
    }
  });

  it('throws APIConnectionError with the cause when nothing listens, and on a dropped connection', async () => {
    const closed = await startEmulator({});
    const baseURL = closed.baseURL;
    await closed.close();
    const chat = createDirectChat(new OpenAI({ apiKey: 'test', baseURL }), { connections: 1 });
    const dropping = await startEmulator({ faults: { dropRate: 1, routes: [CHAT] } });
    const dropped = createDirectChat(new OpenAI({ apiKey: 'test', baseURL: dropping.baseURL }), { connections: 1 });
    try {
      const refused = await catchError(() => chat.create(body('q')));
      expect(refused).toBeInstanceOf(APIConnectionError);
      expect((refused as Error).cause).toBeInstanceOf(Error);
      const drop = await catchError(() => dropped.create(body('q')));
      expect(drop).toBeInstanceOf(APIConnectionError);
      expect(classifyFailure(drop)).toMatchObject({ kind: 'connection_error', retryable: true });
    } finally {
      await chat.close();
      await dropped.close();
      await dropping.close();
    }
  });

  it('throws APIConnectionTimeoutError after the timeout, and APIUserAbortError when the signal aborts', async () => {
    const slow = await startEmulator({ faults: { latencyMs: 2_000, routes: [CHAT] } });
    const chat = createDirectChat(new OpenAI({ apiKey: 'test', baseURL: slow.baseURL }), { connections: 2 });
    try {
      const timedOut = await catchError(() => chat.create(body('q'), { timeout: 100 }));
      expect(timedOut).toBeInstanceOf(APIConnectionTimeoutError);
      expect(classifyFailure(timedOut)).toMatchObject({ kind: 'timeout', retryable: true });
      const controller = new AbortController();
      const pending = chat.create(body('q'), { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      expect(await catchError(() => pending)).toBeInstanceOf(APIUserAbortError);
      expect(await catchError(() => chat.create(body('q'), { signal: AbortSignal.abort() }))).toBeInstanceOf(APIUserAbortError);
    } finally {
      await chat.close();
      await slow.close();
    }
  });

  it('refuses requests after close() with APIConnectionError', async () => {
    const chat = createDirectChat(new OpenAI({ apiKey: 'test', baseURL: emu.baseURL }), { connections: 1 });
    const first = chat.create(body('q'));
    await chat.close();
    expect(await catchError(() => first)).toBeInstanceOf(APIConnectionError);
    expect(await catchError(() => chat.create(body('q')))).toBeInstanceOf(APIConnectionError);
  });

  it('refuses stream: true and a bad connections option', async () => {
    const chat = createDirectChat(new OpenAI({ apiKey: 'test', baseURL: emu.baseURL }), { connections: 1 });
    await expect(chat.create({ ...body('q'), stream: true } as never)).rejects.toThrow(/non-streaming/);
    await chat.close();
    const err = await catchError(() => createDirectChat(new OpenAI({ apiKey: 'test', baseURL: emu.baseURL }), { connections: 0 }));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: /connections/ });
  });
});

describe('supportsDirectChat', () => {
  it('accepts a plain client and refuses a custom fetch, fetch options, an apiKey function or an Azure client', async () => {
    const baseURL = 'http://127.0.0.1:9/v1';
    expect(supportsDirectChat(new OpenAI({ apiKey: 'x', baseURL }))).toBe(true);
    const fetch = createUndiciFetch();
    expect(supportsDirectChat(new OpenAI({ apiKey: 'x', baseURL, fetch }))).toBe(false);
    await fetch.close();
    expect(supportsDirectChat(new OpenAI({ apiKey: 'x', baseURL, fetchOptions: { keepalive: true } }))).toBe(false);
    expect(supportsDirectChat(new OpenAI({ apiKey: async () => 'token', baseURL }))).toBe(false);
    expect(supportsDirectChat(new AzureOpenAI({ apiKey: 'x', endpoint: 'http://127.0.0.1:9', apiVersion: '2024-10-21' }))).toBe(false);
  });
});
