import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
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

  it('passes a 401 through as the SDK error, without retrying', async () => {
    const client = new OpenAI({ apiKey: 'wrong', baseURL: emu.baseURL });
    const err = await catchError(() => uploadFile(client, file));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(String(err)).not.toContain('wrong');
  });
});
