import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Together from 'together-ai';
import { startEmulator, type Emulator } from '../../src/index.js';
import { requestLine } from '../helpers/emulator.js';

const KEY = 't-key';

describe('the together personality', () => {
  let emu: Emulator;
  let client: Together;
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'together', apiKey: KEY, bearerOnly: true, timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 9 });
    const { default: Sdk } = await import('together-ai');
    client = new Sdk({ apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0 });
  });
  afterAll(() => emu.close());

  /**
   * The wire of together-ai's files.upload (announce, then PUT to the presigned URL), sent by hand: the SDK's own
   * upload fails on Node 20 (its fetch streams a body without `duplex: 'half'`) and, as ESM, finds no node:path.
   */
  async function uploadText(text: string, purpose = 'batch-api'): Promise<string> {
    const params = new URLSearchParams({ file_name: 'in.jsonl', file_type: 'jsonl', purpose });
    const announced = await fetch(`${emu.baseURL}/files?${params}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-www-form-urlencoded' }, body: params.toString(), redirect: 'manual' });
    expect(announced.status).toBe(302);
    const put = await fetch(announced.headers.get('location')!, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: text });
    expect(put.status).toBe(200);
    return (await client.files.retrieve(announced.headers.get('x-together-file-id')!)).id;
  }
  const upload = (lines: unknown[]): Promise<string> => uploadText(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);

  async function finished(id: string): Promise<Together.Batches.BatchJob> {
    for (;;) {
      const job = await client.batches.retrieve(id);
      if (['COMPLETED', 'FAILED', 'EXPIRED', 'CANCELLED'].includes(job.status!)) return job;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('takes the presigned upload together-ai sends (purpose batch-api), and runs its wrapped create to COMPLETED', async () => {
    expect(emu.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const fileId = await upload([requestLine('a', 'Label: great'), requestLine('b', 'Label: awful')]);
    expect(await client.files.retrieve(fileId)).toMatchObject({ id: fileId, object: 'file', purpose: 'batch-api', FileType: 'jsonl' });
    const created = await client.batches.create({ endpoint: '/v1/chat/completions', input_file_id: fileId });
    expect(created.job).toMatchObject({ input_file_id: fileId, status: 'VALIDATING', endpoint: '/v1/chat/completions' });
    expect(created.job!.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(created.job).not.toHaveProperty('request_counts');
    expect(created.job).not.toHaveProperty('metadata');
    const done = await finished(created.job!.id!);
    expect(done).toMatchObject({ status: 'COMPLETED', progress: 100, output_file_id: expect.any(String) });
    const text = await (await client.files.content(done.output_file_id!)).text();
    expect(text.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort()).toEqual(['a', 'b']);
    const listed = await client.batches.list();
    expect(Array.isArray(listed)).toBe(true);
    expect(listed.map((b) => b.id)).toContain(done.id);
  });

  it('refuses a file of another purpose, another window, and an unknown file, in the OpenAI-style error shape', async () => {
    const ft = await uploadText(`${JSON.stringify({ messages: [{ role: 'user', content: 'x' }] })}\n`, 'fine-tune');
    await expect(client.batches.create({ endpoint: '/v1/chat/completions', input_file_id: ft })).rejects.toMatchObject({ status: 400, message: expect.stringContaining('needs purpose batch-api') });
    const fileId = await upload([requestLine('a', 'x')]);
    await expect(client.batches.create({ endpoint: '/v1/chat/completions', input_file_id: fileId, completion_window: '48h' })).rejects.toMatchObject({ status: 400, message: expect.stringContaining('completion_window must be 24h') });
    await expect(client.batches.create({ endpoint: '/v1/chat/completions', input_file_id: 'file-nope' })).rejects.toMatchObject({ status: 404 });
  });

  it('cancels a running batch to CANCELLED', async () => {
    emu.setFaults({ slowTailLines: 1, slowTailMs: 60_000 });
    try {
      const fileId = await upload([requestLine('a', 'x'), requestLine('b', 'y')]);
      const { job } = await client.batches.create({ endpoint: '/v1/chat/completions', input_file_id: fileId });
      // Cancelling is not a status Together documents: a batch not yet ended reads IN_PROGRESS meanwhile.
      expect((await client.batches.cancel(job!.id!)).status).toMatch(/^(VALIDATING|IN_PROGRESS|CANCELLED)$/);
      const done = await finished(job!.id!);
      expect(done.status).toBe('CANCELLED');
      expect(done.completed_at).toMatch(/^\d{4}-/);
    } finally {
      emu.setFaults(null);
    }
  });

  it('names an ended batch\'s error file first and its output file only after N reads (fault outputFileLagReads), in GET and list alike', async () => {
    emu.setFaults({ lineFailureRate: 0.5, lineFailureStatus: 400, outputFileLagReads: 2 });
    try {
      const fileId = await upload(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => requestLine(id, `Label: ${id}`)));
      const { job } = await client.batches.create({ endpoint: '/v1/chat/completions', input_file_id: fileId });
      const first = await finished(job!.id!);
      expect(first).toMatchObject({ status: 'COMPLETED', progress: 100, error_file_id: expect.any(String) });
      expect(first).not.toHaveProperty('output_file_id');
      expect((await client.batches.list()).find((b) => b.id === job!.id)).not.toHaveProperty('output_file_id');
      const named = await client.batches.retrieve(job!.id!);
      expect(named).toMatchObject({ output_file_id: expect.any(String), error_file_id: first.error_file_id });
      const ids = async (file: string) => (await (await client.files.content(file)).text()).trim().split('\n').map((l) => JSON.parse(l).custom_id as string);
      expect([...(await ids(named.output_file_id!)), ...(await ids(named.error_file_id!))].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    } finally {
      emu.setFaults(null);
    }
  });

  it('answers the presigned PUT only with its token, and the API only with the Bearer key', async () => {
    const announced = await fetch(`${emu.baseURL}/files?file_name=x.jsonl&file_type=jsonl&purpose=batch-api`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, redirect: 'manual' });
    expect(announced.status).toBe(302);
    const url = new URL(announced.headers.get('location')!);
    url.searchParams.set('token', 'forged');
    expect((await fetch(url, { method: 'PUT', body: '{}\n' })).status).toBe(403);
    expect((await fetch(`${emu.baseURL}/batches`, { headers: { authorization: KEY } })).status).toBe(401);
  });
});
