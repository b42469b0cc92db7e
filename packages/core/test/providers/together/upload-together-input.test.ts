import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createClient } from '../../../src/client/index.js';
import type { JobClient } from '../../../src/job/job-types.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const KEY = 't-key';
const line = (id: string) => JSON.stringify({ custom_id: id, body: { model: 'm', messages: [{ role: 'user', content: `é ${id}` }] } });

describe('uploadTogetherInput (through the together client, over HTTP to the emulator)', () => {
  let emu: Emulator;
  let client: JobClient;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'together', bearerOnly: true, apiKey: KEY, seed: 3 });
    client = createClient({ provider: 'together', apiKey: KEY, baseURL: emu.baseURL }) as unknown as JobClient;
    dir = await mkdtemp(join(tmpdir(), 'kbatch-together-upload-'));
  });
  afterAll(() => emu.close());

  it('announces the file with purpose batch-api and PUTs its bytes unchanged to the presigned URL, several MiB streamed', async () => {
    const path = join(dir, 'part-00001.jsonl');
    const text = `${Array.from({ length: 40_000 }, (_, i) => line(`r${i}`)).join('\n')}\n`;
    await writeFile(path, text);
    const sha256 = createHash('sha256').update(text).digest('hex');
    const file = await client.uploadBatchInput!(path, { filename: 'kb-1-part-00001.jsonl', expectedSha256: sha256 });
    expect(file).toMatchObject({ object: 'file', bytes: Buffer.byteLength(text), filename: 'kb-1-part-00001.jsonl', purpose: 'batch-api' });
    expect(await (await client.files.content(file.id)).text()).toBe(text);
    expect(emu.stats().requests).toMatchObject({ 'POST /v1/files': 1, 'PUT /together-upload/:id': 1, 'GET /v1/files/:id': 1 });
  });

  it('aborts an upload whose chunk changed after the job recorded it (JOB_MISMATCH) before the PUT completes: no file', async () => {
    const path = join(dir, 'changed.jsonl');
    await writeFile(path, `${line('a')}\n`);
    const files = emu.stats().filesCreated;
    expectKbatchError(await catchError(() => client.uploadBatchInput!(path, { expectedSha256: '0'.repeat(64) })), { code: 'JOB_MISMATCH' });
    expect(emu.stats().filesCreated).toBe(files);
  });

  it("trusts a file whose size and mtime are still the recorded ones without hashing it, as uploadFile does; a touched one is hashed", async () => {
    const path = join(dir, 'stat.jsonl');
    await writeFile(path, `${line('a')}\n`);
    const { size, mtimeMs } = await stat(path);
    const wrong = '0'.repeat(64);
    expect((await client.uploadBatchInput!(path, { expectedSha256: wrong, expectedStat: { size, mtimeMs } })).bytes).toBe(size);
    expectKbatchError(await catchError(() => client.uploadBatchInput!(path, { expectedSha256: wrong, expectedStat: { size, mtimeMs: mtimeMs - 1_000 } })), { code: 'JOB_MISMATCH', message: 'sha256 differs' });
  });

  it('starts again from the announcement after a transient failure of the PUT (503), and gives up with UPLOAD_FAILED', async () => {
    const path = join(dir, 'retry.jsonl');
    await writeFile(path, `${line('a')}\n${line('b')}\n`);
    emu.setFaults({ rate5xx: 1, routes: ['PUT /together-upload/:id'] });
    try {
      const before = emu.stats().requests['POST /v1/files'] ?? 0;
      const retries: number[] = [];
      const err = await catchError(() => client.uploadBatchInput!(path, { maxAttempts: 3, retryBaseMs: 1, onRetry: ({ attempt }) => retries.push(attempt) }));
      expectKbatchError(err, { code: 'UPLOAD_FAILED', message: 'to Together failed after 3 attempts' });
      expect(retries).toEqual([1, 2]);
      expect((emu.stats().requests['POST /v1/files'] ?? 0) - before).toBe(3);
    } finally {
      emu.setFaults(null);
    }
    expect((await client.uploadBatchInput!(path, {})).bytes).toBe((await readFile(path)).length);
  });

  it("lists the account's files from Together's single {data} page (orphan cleanup reads it)", async () => {
    const names: string[] = [];
    for await (const file of client.files.list!({ purpose: 'batch' })) names.push(file.filename);
    // Once: the openai SDK's cursor would ask again after the last file and list the page twice.
    expect(names.filter((n) => n === 'kb-1-part-00001.jsonl')).toHaveLength(1);
  });
});

describe('uploadTogetherInput against a server that watches the headers', () => {
  it('never sends the API key to the presigned URL', async () => {
    const { createServer } = await import('node:http');
    const seen: Array<{ method: string; auth: string | undefined }> = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method!, auth: req.headers.authorization });
      req.resume();
      req.on('end', () => {
        const port = (server.address() as { port: number }).port;
        if (req.method === 'POST') res.writeHead(302, { location: `http://127.0.0.1:${port}/bucket/f1?sig=x`, 'x-together-file-id': 'file-1' }).end();
        else if (req.method === 'PUT') res.writeHead(200).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'file-1', object: 'file', bytes: 3, created_at: 1, filename: 'x.jsonl', purpose: 'batch-api' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const client = createClient({ provider: 'together', apiKey: 'secret-key', baseURL: `http://127.0.0.1:${port}/v1` }) as unknown as JobClient;
      const path = join(await mkdtemp(join(tmpdir(), 'kbatch-together-hdr-')), 'x.jsonl');
      await writeFile(path, 'ab\n');
      expect((await client.uploadBatchInput!(path, {})).id).toBe('file-1');
      expect(seen).toEqual([
        { method: 'POST', auth: 'Bearer secret-key' },
        { method: 'PUT', auth: undefined },
        { method: 'GET', auth: 'Bearer secret-key' },
      ]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
