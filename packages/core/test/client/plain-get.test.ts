import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '@kbatch/emulator';
import OpenAI, { NotFoundError, RateLimitError } from 'openai';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainClientOf, plainGet, plainGetJson, plainPathId } from '../../src/client/plain-get.js';
import { downloadFile } from '../../src/batch/download-file.js';
import { listedBatches, polledBatch } from '../../src/batch/list-batches.js';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
// Odd content on purpose: escapes, unicode, CRLF, a blank line and no final newline.
const LINES = [
  JSON.stringify({ custom_id: 'a\\"1', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'héllo 🌍 "q"' }] } }),
  JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'x\ny' }] } }),
];
const CONTENT = `${LINES[0]}\r\n\n${LINES[1]}`;

/** The SDK path of the same client: a fetch of its own makes `plainClientOf` refuse it. */
function sdkOnly(baseURL: string): OpenAI {
  return new OpenAI({ apiKey: 'k', baseURL, fetch: (input, init) => fetch(input, init) });
}

describe('plainGet', () => {
  let emulator: Emulator;
  let client: OpenAI;
  let fileId: string;
  let batchId: string;
  beforeAll(async () => {
    emulator = await startEmulator({ seed: 1, timeScale: 0.001 });
    client = new OpenAI({ apiKey: 'k', baseURL: emulator.baseURL });
    fileId = (await client.files.create({ file: new File([CONTENT], 'in.jsonl'), purpose: 'batch' })).id;
    batchId = (await client.batches.create({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' })).id;
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('takes a plain openai client behind its own files and batches resources, and nothing else', () => {
    expect(plainClientOf(client.files, 'content')).toBe(client);
    expect(plainClientOf(client.batches, 'list')).toBe(client);
    expect(plainClientOf(sdkOnly(emulator.baseURL).files, 'content')).toBeUndefined();
    expect(plainClientOf({ content: async () => new Response('') }, 'content')).toBeUndefined();
    const patched = new OpenAI({ apiKey: 'k', baseURL: emulator.baseURL });
    patched.files.content = (async () => new Response('converted')) as never;
    expect(plainClientOf(patched.files, 'content')).toBeUndefined();
    expect(plainClientOf(null, 'content')).toBeUndefined();
  });

  it('lets through only ids the SDK would put in a path unchanged', () => {
    expect(plainPathId('file-abc_123')).toBe('file-abc_123');
    for (const odd of ['..', 'a.b', 'a/b', 'a b', 'é', '', 'a?b']) expect(plainPathId(odd)).toBeUndefined();
  });

  it('downloads the same bytes and lines as the SDK path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-plain-'));
    const seen: { plain: string[]; sdk: string[] } = { plain: [], sdk: [] };
    const plain = await downloadFile(client.files, fileId, join(dir, 'plain.jsonl'), { inspect: () => (line) => seen.plain.push(line.toString()) });
    const sdk = await downloadFile(sdkOnly(emulator.baseURL).files, fileId, join(dir, 'sdk.jsonl'), { inspect: () => (line) => seen.sdk.push(line.toString()) });
    expect({ lines: plain.lines, bytes: plain.bytes }).toEqual({ lines: sdk.lines, bytes: sdk.bytes });
    expect(plain.lines).toBe(2);
    expect(seen.plain).toEqual(seen.sdk);
    expect(await readFile(join(dir, 'plain.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'sdk.jsonl'), 'utf8'));
  });

  it('reads the same listing and batch as the SDK', async () => {
    const ids = new Set([batchId]);
    const plain = await listedBatches(client.batches, ids);
    const sdk = await listedBatches(sdkOnly(emulator.baseURL).batches, ids);
    expect(plain.get(batchId)?.id).toBe(batchId);
    expect({ ...plain.get(batchId), request_counts: null, status: null }).toEqual({ ...sdk.get(batchId), request_counts: null, status: null });
    expect(await polledBatch(client.batches, batchId).then((b) => b.id)).toBe(batchId);
  });

  it('throws the SDK\'s own error for an HTTP error status (here: its NotFoundError), as the SDK call would', async () => {
    await expect(plainGet(client, { path: '/files/file-missing/content' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(plainGetJson(client, { path: '/batches/batch_missing' })).rejects.toMatchObject({ status: 404 });
    await expect(polledBatch(client.batches, 'batch_missing')).rejects.toMatchObject({ status: 404 });
  });

  it('gives undefined for an aborted signal and for a server that cannot be reached', async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await plainGet(client, { path: '/batches', signal: controller.signal })).toBeUndefined();
    const gone = new OpenAI({ apiKey: 'k', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0 });
    expect(await plainGetJson(gone, { path: '/batches' })).toBeUndefined();
  });
});

describe('plainGetJson', () => {
  let server: Server;
  let url: string;
  const seen: IncomingHttpHeaders[] = [];
  const answers: Array<{ type: string; body: string }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      const answer = answers.shift() ?? { type: 'application/json', body: '{}' };
      res.writeHead(200, { 'content-type': answer.type });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends the headers the client builds (auth, user agent, default headers) and the query', async () => {
    const client = new OpenAI({ apiKey: 'secret', baseURL: url, defaultHeaders: { 'x-team': 't1' } });
    answers.push({ type: 'application/json; charset=utf-8', body: '{"data":[],"ok":"✓"}' });
    expect(await plainGetJson(client, { path: '/batches', query: { limit: 7 } })).toEqual({ data: [], ok: '✓' });
    const headers = seen.at(-1)!;
    expect(headers['authorization']).toBe('Bearer secret');
    expect(headers['x-team']).toBe('t1');
    expect(headers['user-agent']).toMatch(/^OpenAI\/JS/);
  });

  it('gives undefined for a body that is not JSON by its type or its bytes', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: url });
    answers.push({ type: 'text/plain', body: '{"a":1}' }, { type: 'application/json', body: '{"a":' });
    expect(await plainGetJson(client, { path: '/batches' })).toBeUndefined();
    expect(await plainGetJson(client, { path: '/batches' })).toBeUndefined();
  });
});

describe('plainGet against an odd server', () => {
  let server: Server;
  let url: string;
  const seen: IncomingHttpHeaders[] = [];
  let answer: (res: import('node:http').ServerResponse) => void = (res) => res.end('{}');
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      answer(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends one request per poll and per download when the plain path works', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: url, maxRetries: 0 });
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'batch_1', object: 'batch', status: 'in_progress', created_at: 1, endpoint: '/v1/chat/completions', input_file_id: 'f', completion_window: '24h', request_counts: { total: 2, completed: 1, failed: 0 } }));
    };
    const before = seen.length;
    expect((await polledBatch(client.batches, 'batch_1')).status).toBe('in_progress');
    expect(seen.length - before).toBe(1);
    answer = (res) => res.end(CONTENT);
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-plain-'));
    expect((await downloadFile(client.files, 'file-1', join(dir, 'one.jsonl'))).lines).toBe(2);
    expect(seen.length - before).toBe(2);
  });

  it('throws the SDK\'s RateLimitError with its Retry-After for a 429, after one request (no second one at once)', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: url, maxRetries: 0 });
    answer = (res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit' } }));
    };
    const before = seen.length;
    const error = await plainGetJson(client, { path: '/batches' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).headers?.get('retry-after')).toBe('7');
    expect((error as RateLimitError).message).toContain('slow down');
    expect(seen.length - before).toBe(1);
  });

  it('asks for an identity body, and leaves a compressed one to the SDK, which decompresses it (never written compressed)', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: url, maxRetries: 0 });
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ custom_id: `r${i}`, text: `line ${i} ${'x'.repeat(i % 97)}` }));
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
      res.end(gzipSync(`${lines.join('\n')}\n`));
    };
    const before = seen.length;
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-plain-'));
    const result = await downloadFile(client.files, 'file-1', join(dir, 'gz.jsonl'), { expectedLines: 500 });
    expect(seen[before]!['accept-encoding']).toBe('identity');
    expect(result.lines).toBe(500);
    expect(await readFile(join(dir, 'gz.jsonl'), 'utf8')).toBe(`${lines.join('\n')}\n`);
  });
});
