import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { AuthenticationError } from 'openai';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { uploadFile } from '../../src/client/upload-file.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('uploadFile', () => {
  let emu: Emulator;
  let file: string;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 5, apiKey: 'right' });
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-upload-'));
    file = join(dir, 'part-00001.jsonl');
    await writeFile(file, '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}\n');
  });
  afterAll(async () => {
    await emu.close();
  });

  it('uploads a file as multipart with purpose batch and the given name', async () => {
    const client = new OpenAI({ apiKey: 'right', baseURL: emu.baseURL });
    const uploaded = await uploadFile(client, file, { filename: 'kb-1-part-00001.jsonl' });
    expect(uploaded).toMatchObject({ filename: 'kb-1-part-00001.jsonl', purpose: 'batch' });
    const content = await (await client.files.content(uploaded.id)).text();
    expect(content).toContain('"custom_id":"a"');
  });

  it('retries 429s, 5xx and dropped connections by re-opening the file', async () => {
    const client = new OpenAI({ apiKey: 'right', baseURL: emu.baseURL, maxRetries: 20 });
    const before = emu.stats().requests['POST /v1/files'] ?? 0;
    emu.setFaults({ rate429: 0.3, rate5xx: 0.3, dropRate: 0.2, retryAfterSeconds: 0.01, routes: ['POST /v1/files'] });
    const retries: unknown[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const uploaded = await uploadFile(client, file, { retryBaseMs: 5, onRetry: (r) => retries.push(r) });
        expect(uploaded.id).toBeTruthy();
      }
    } finally {
      emu.setFaults(null);
    }
    expect(retries.length).toBeGreaterThan(0);
    expect((emu.stats().requests['POST /v1/files'] ?? 0) - before).toBe(4 + retries.length);
  });

  it('gives up with UPLOAD_FAILED once retries are spent', async () => {
    const client = new OpenAI({ apiKey: 'right', baseURL: emu.baseURL, maxRetries: 1 });
    emu.setFaults({ rate5xx: 1, routes: ['POST /v1/files'] });
    try {
      const err = await catchError(() => uploadFile(client, file, { retryBaseMs: 1 }));
      expectKbatchError(err, { code: 'UPLOAD_FAILED', file });
    } finally {
      emu.setFaults(null);
    }
  });

  it('makes 8 attempts by default, whatever the client maxRetries', async () => {
    const client = new OpenAI({ apiKey: 'right', baseURL: emu.baseURL, maxRetries: 2 });
    const before = emu.stats().requests['POST /v1/files'] ?? 0;
    emu.setFaults({ rate5xx: 1, routes: ['POST /v1/files'] });
    try {
      const err = await catchError(() => uploadFile(client, file, { retryBaseMs: 1 }));
      expectKbatchError(err, { code: 'UPLOAD_FAILED', message: 'after 8 attempts' });
    } finally {
      emu.setFaults(null);
    }
    expect((emu.stats().requests['POST /v1/files'] ?? 0) - before).toBe(8);
  });

  it('aborts with JOB_MISMATCH when the file no longer has the expected sha256, creating no file', async () => {
    const client = new OpenAI({ apiKey: 'right', baseURL: emu.baseURL });
    const created = emu.stats().filesCreated;
    const err = await catchError(() => uploadFile(client, file, { expectedSha256: '0'.repeat(64), retryBaseMs: 1 }));
    expectKbatchError(err, { code: 'JOB_MISMATCH', file });
    expect(emu.stats().filesCreated).toBe(created);
    const sha = createHash('sha256').update(await readFile(file)).digest('hex');
    expect((await uploadFile(client, file, { expectedSha256: sha })).id).toBeTruthy();
  });

  it('trusts the recorded size and mtime instead of hashing again while the file has them, and hashes once they differ', async () => {
    const client = new OpenAI({ apiKey: 'right', baseURL: emu.baseURL });
    const { size, mtimeMs } = await stat(file);
    const wrong = '0'.repeat(64);
    // Unchanged since the sha256 was taken (the wrong one here shows it is not computed).
    expect((await uploadFile(client, file, { expectedSha256: wrong, expectedStat: { size, mtimeMs } })).id).toBeTruthy();
    // Another mtime (touched or edited): the sha256 decides.
    const err = await catchError(() => uploadFile(client, file, { expectedSha256: wrong, expectedStat: { size, mtimeMs: mtimeMs - 1 }, retryBaseMs: 1 }));
    expectKbatchError(err, { code: 'JOB_MISMATCH', file, message: 'sha256 differs' });
    const sha = createHash('sha256').update(await readFile(file)).digest('hex');
    expect((await uploadFile(client, file, { expectedSha256: sha, expectedStat: { size: size + 1, mtimeMs } })).id).toBeTruthy();
  });

  it('passes a 401 through as the SDK error, without retrying', async () => {
    const client = new OpenAI({ apiKey: 'wrong', baseURL: emu.baseURL });
    const err = await catchError(() => uploadFile(client, file));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(String(err)).not.toContain('wrong');
    // The SDK's own shape: the body's `error` object parsed, its message (not the raw JSON) in the error's message.
    expect((err as AuthenticationError).error).toMatchObject({ code: 'invalid_api_key' });
    expect((err as Error).message).toMatch(/^401 Invalid or missing API key/);
  });
});
