import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { uploadGeminiInput } from '../../../src/providers/gemini/upload-gemini-input.js';
import type { GeminiHttp } from '../../../src/providers/gemini/gemini-http.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const MODEL = 'gemini-2.5-flash';
const line = (id: string, content: string, extra: object = {}, model = MODEL): string =>
  JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content }], ...extra } });

async function chunk(lines: string[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'kbatch-gemini-upload-')), 'part-00001.jsonl');
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

// Descriptors of this process open on `path` (Linux: /proc/self/fd).
async function openOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
  return n;
}

describe('uploadGeminiInput', () => {
  let emu: Emulator;
  let http: GeminiHttp;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'gemini', apiKey: 'g-key', seed: 3 });
    http = { origin: emu.baseURL, apiKey: 'g-key', maxRetries: 0 };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('closes the chunk file after every failed attempt, and fails with UPLOAD_FAILED after maxAttempts transient failures', async () => {
    const path = await chunk(Array.from({ length: 300 }, (_, i) => line(`r${i}`, `${i} ${'x'.repeat(10_000)}`)));
    emu.setFaults({ rate5xx: 1, routes: ['POST /upload/v1beta/files'] });
    try {
      const retries: number[] = [];
      const err = await catchError(() => uploadGeminiInput(http, path, { maxAttempts: 3, retryBaseMs: 1, onRetry: (r) => retries.push(r.attempt) }));
      expectKbatchError(err, { code: 'UPLOAD_FAILED', file: path, message: /to Gemini failed after 3 attempts/ });
      expect(retries).toEqual([1, 2]);
    } finally {
      emu.setFaults(null);
    }
    expect(await openOn(path)).toBe(0);
  });

  it('stops an upload whose converted bytes pass the file limit before finalizing it (LINT_FAILED, not retried, no file)', async () => {
    const path = await chunk(Array.from({ length: 50 }, (_, i) => line(`r${i}`, `review ${i}`)));
    const before = emu.stats().filesCreated;
    const uploads = emu.stats().requests['POST /upload/v1beta/files'] ?? 0;
    const err = await catchError(() => uploadGeminiInput(http, path, {}, 2_000));
    expectKbatchError(err, { code: 'LINT_FAILED', file: path, message: /converts to more than 2000 bytes.*unfinalized/ });
    expect(emu.stats().requests['POST /upload/v1beta/files']).toBe(uploads + 1);
    expect(emu.stats().filesCreated).toBe(before);
    expect(await openOn(path)).toBe(0);
  });

  it('refuses a second model mid-upload with LINT_FAILED naming both', async () => {
    const path = await chunk([line('a', 'x'), line('b', 'y', {}, 'gemini-2.5-pro')]);
    expectKbatchError(await catchError(() => uploadGeminiInput(http, path)), { code: 'LINT_FAILED', file: path, message: /request b uses model gemini-2.5-pro, an earlier one gemini-2.5-flash/ });
  });

  it('says a parameter refused after the first 8 MiB stopped an unfinalized upload, not that nothing was sent', async () => {
    const big = 'y'.repeat(1_000_000);
    const path = await chunk([...Array.from({ length: 12 }, (_, i) => line(`r${i}`, `${i} ${big}`)), line('r-bad', 'x', { tools: [{ type: 'function', function: { name: 'f' } }] })]);
    const before = emu.stats().filesCreated;
    const err = await catchError(() => uploadGeminiInput(http, path));
    expectKbatchError(err, { code: 'PARAM_UNSUPPORTED', message: /Request line 13 \(custom_id r-bad\).*stopped after 8388608 bytes, unfinalized \(no batch was created\)/ });
    expect((err as Error).message).not.toMatch(/nothing was sent/);
    expect(emu.stats().filesCreated).toBe(before);
  });
});

describe('uploadGeminiInput against a server that answers oddly', () => {
  let server: Server;
  let origin: string;
  let mode: 'no-url' | 'no-name' = 'no-url';
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.headers['x-goog-upload-command'] === 'start') {
          res.writeHead(200, mode === 'no-url' ? {} : { 'x-goog-upload-url': `${origin}/upload/v1beta/files?upload_id=1` });
          res.end();
        } else res.end(JSON.stringify({ file: { sizeBytes: '3' } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails with RESPONSE_INVALID when the start sends no upload URL, or the finalize names no file', async () => {
    const path = await chunk([line('a', 'x')]);
    const http: GeminiHttp = { origin, apiKey: 'k', maxRetries: 0 };
    mode = 'no-url';
    expectKbatchError(await catchError(() => uploadGeminiInput(http, path)), { code: 'RESPONSE_INVALID', message: /no x-goog-upload-url header/ });
    mode = 'no-name';
    expectKbatchError(await catchError(() => uploadGeminiInput(http, path)), { code: 'RESPONSE_INVALID', file: path, message: /ended without a file name/ });
  });
});
