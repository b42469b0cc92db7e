import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/index.js';

const MODEL = 'gemini-2.5-flash';
const KEY = 'g-key';

/** A raw call with the key in x-goog-api-key (as @google/genai sends it). */
async function call(emu: Emulator, method: string, path: string, init: { json?: unknown; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${emu.baseURL}/${path}`, {
    method,
    headers: { 'x-goog-api-key': KEY, ...(init.json === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : init.body !== undefined ? { body: init.body } : {}),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Upload `lines` in one `upload, finalize` request; returns the file name. */
async function upload(emu: Emulator, lines: string[]): Promise<string> {
  const start = await call(emu, 'POST', 'upload/v1beta/files', { json: { file: { displayName: 'in.jsonl' } }, headers: { 'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start' } });
  const url = new URL(start.headers.get('x-goog-upload-url')!);
  const done = await call(emu, 'POST', `${url.pathname.slice(1)}${url.search}`, { body: `${lines.join('\n')}\n`, headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' } });
  expect(done.headers.get('x-goog-upload-status')).toBe('final');
  return (JSON.parse(done.text) as { file: { name: string } }).file.name;
}

const requestLines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${i}`, request: { contents: [{ role: 'user', parts: [{ text: `Label as one of: positive, negative. Review ${i}: great` }] }] } }));

async function finished(emu: Emulator, name: string): Promise<{ metadata: { state: string; batchStats: Record<string, string>; output?: { responsesFile: string } } }> {
  for (;;) {
    const op = JSON.parse((await call(emu, 'GET', `v1beta/${name}`)).text) as { done: boolean; metadata: { state: string; batchStats: Record<string, string>; output?: { responsesFile: string } } };
    if (op.done) return op;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the Gemini personality', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'gemini', apiKey: KEY, timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 8 });
  });
  afterAll(() => emu.close());

  it('takes the key as x-goog-api-key or ?key=, and refuses another in Google\'s error shape (401 UNAUTHENTICATED)', async () => {
    expect(emu.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${emu.baseURL}/v1beta/batches?key=${KEY}`)).status).toBe(200);
    const denied = await fetch(`${emu.baseURL}/v1beta/batches`, { headers: { authorization: `Bearer ${KEY}` } });
    expect([denied.status, await denied.json()]).toEqual([401, { error: { code: 401, message: expect.any(String), status: 'UNAUTHENTICATED' } }]);
  });

  it('lists the uploaded files oldest first, pageSize at a time with nextPageToken, and refuses a pageSize over 100', async () => {
    const names = [await upload(emu, requestLines(1)), await upload(emu, requestLines(1)), await upload(emu, requestLines(1))];
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = JSON.parse((await call(emu, 'GET', `v1beta/files?pageSize=2${token ? `&pageToken=${token}` : ''}`)).text) as { files: Array<{ name: string; displayName: string; sizeBytes: string }>; nextPageToken?: string };
      expect(page.files.length).toBeLessThanOrEqual(2);
      seen.push(...page.files.map((f) => f.name));
      token = page.nextPageToken;
    } while (token);
    expect(seen.filter((n) => names.includes(n))).toEqual(names);
    expect((await call(emu, 'GET', 'v1beta/files?pageSize=101')).status).toBe(400);
  });

  it('refuses a chunk at the wrong offset and an unknown upload session', async () => {
    const start = await call(emu, 'POST', 'upload/v1beta/files', { json: {}, headers: { 'x-goog-upload-command': 'start' } });
    const url = new URL(start.headers.get('x-goog-upload-url')!);
    const path = `${url.pathname.slice(1)}${url.search}`;
    expect((await call(emu, 'POST', path, { body: 'abc', headers: { 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' } })).status).toBe(200);
    const wrong = await call(emu, 'POST', path, { body: 'def', headers: { 'x-goog-upload-command': 'upload, finalize', 'x-goog-upload-offset': '0' } });
    expect([wrong.status, JSON.parse(wrong.text).error.status]).toEqual([400, 'INVALID_ARGUMENT']);
    expect((await call(emu, 'POST', 'upload/v1beta/files?upload_id=nope', { body: 'x', headers: { 'x-goog-upload-command': 'upload' } })).status).toBe(404);
  });

  it('gives an expired batch BATCH_STATE_EXPIRED, and its responses file the requests that ran (never-run ones left out)', async () => {
    emu.setFaults({ expireAfterLines: 3 });
    try {
      const file = await upload(emu, requestLines(7));
      const op = JSON.parse((await call(emu, 'POST', `v1beta/models/${MODEL}:batchGenerateContent`, { json: { batch: { displayName: 'exp', inputConfig: { fileName: file } } } })).text) as { name: string; metadata: { state: string } };
      expect(op.metadata.state).toBe('BATCH_STATE_PENDING');
      const done = await finished(emu, op.name);
      expect(done.metadata).toMatchObject({ state: 'BATCH_STATE_EXPIRED', batchStats: { requestCount: '7', successfulRequestCount: '3', failedRequestCount: '0', pendingRequestCount: '4' } });
      const lines = (await call(emu, 'GET', `download/v1beta/${done.metadata.output!.responsesFile}:download?alt=media`)).text.trim().split('\n');
      expect(lines).toHaveLength(3);
    } finally {
      emu.setFaults(null);
    }
  });

  it("echoes a batch's inputConfig.fileName as files/ID on create, get and list, as the real API does", async () => {
    const file = await upload(emu, requestLines(1));
    const bare = file.replace(/^files\//, '');
    const op = JSON.parse((await call(emu, 'POST', `v1beta/models/${MODEL}:batchGenerateContent`, { json: { batch: { displayName: 'in', inputConfig: { fileName: bare } } } })).text) as { name: string; metadata: { inputConfig?: { fileName: string } } };
    expect(op.metadata.inputConfig).toEqual({ fileName: file });
    expect((JSON.parse((await call(emu, 'GET', `v1beta/${op.name}`)).text) as typeof op).metadata.inputConfig).toEqual({ fileName: file });
    const listed = JSON.parse((await call(emu, 'GET', 'v1beta/batches?pageSize=100')).text) as { operations: Array<typeof op> };
    expect(listed.operations.find((o) => o.name === op.name)?.metadata.inputConfig).toEqual({ fileName: file });
  });

  it('writes a failed request as a google.rpc.Status {key, error: {code, message}}: an rpc code (14 for a 503), no status name', async () => {
    emu.setFaults({ lineFailureRate: 1, lineFailureStatus: 503 });
    try {
      const file = await upload(emu, requestLines(2));
      const op = JSON.parse((await call(emu, 'POST', `v1beta/models/${MODEL}:batchGenerateContent`, { json: { batch: { displayName: 'f', inputConfig: { fileName: file } } } })).text) as { name: string };
      const done = await finished(emu, op.name);
      expect(done.metadata).toMatchObject({ state: 'BATCH_STATE_SUCCEEDED', batchStats: { failedRequestCount: '2' } });
      const lines = (await call(emu, 'GET', `v1beta/${done.metadata.output!.responsesFile}:download?alt=media`)).text.trim().split('\n').map((l) => JSON.parse(l) as unknown);
      expect(lines).toEqual(expect.arrayContaining([{ key: 'k0', error: { code: 14, message: expect.any(String) } }]));
    } finally {
      emu.setFaults(null);
    }
  });

  it('refuses an unknown model (404 NOT_FOUND), a missing input file, and inline requests (not emulated)', async () => {
    const unknown = await call(emu, 'POST', 'v1beta/models/gpt-4o:batchGenerateContent', { json: {} });
    expect([unknown.status, JSON.parse(unknown.text).error.status]).toEqual([404, 'NOT_FOUND']);
    const missing = await call(emu, 'POST', `v1beta/models/${MODEL}:batchGenerateContent`, { json: { batch: { displayName: 'x', inputConfig: { fileName: 'files/none' } } } });
    expect(missing.status).toBe(404);
    const inline = await call(emu, 'POST', `v1beta/models/${MODEL}:batchGenerateContent`, { json: { batch: { displayName: 'x', inputConfig: { requests: { requests: [] } } } } });
    expect(inline.status).toBe(501);
  });
});
