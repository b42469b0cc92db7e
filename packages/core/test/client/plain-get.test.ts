import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '@kbatch/emulator';
import OpenAI from 'openai';
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

  it('gives undefined for a status other than 2xx, so the SDK call decides (here: its NotFoundError)', async () => {
    expect(await plainGet(client, { path: '/files/file-missing/content' })).toBeUndefined();
    expect(await plainGetJson(client, { path: '/batches/batch_missing' })).toBeUndefined();
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
