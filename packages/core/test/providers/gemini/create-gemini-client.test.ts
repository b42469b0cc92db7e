import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { APIConnectionError } from 'openai';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { startEmulator, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createClient } from '../../../src/client/index.js';
import { loadManifest, runJob, type RunJobOptions } from '../../../src/internal.js';
import type { JobClient } from '../../../src/job/job-types.js';
import { UPLOAD_CHUNK_BYTES } from '../../../src/providers/gemini/upload-gemini-input.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const MODEL = 'gemini-2.5-flash';
const FAST: EmulatorOptions = { provider: 'gemini', timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, apiKey: 'g-key', seed: 5 };
const LABELS = ['positive', 'negative'];

/** A CSV with quotes, an embedded newline, non-ASCII and a long field, plus `n` plain rows. */
async function reviews(n = 0): Promise<{ dir: string; input: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-gemini-'));
  const rows = ['r1,"I love it, ""great"""', 'r2,"line one\nline two — terrible"', `r3,"${'long é '.repeat(2_000)}great"`, 'r4,"日本語 awful, broken"'];
  for (let i = 5; i < 5 + n; i++) rows.push(`r${i},"review ${i} ${i % 2 ? 'good' : 'bad'}"`);
  const input = join(dir, 'reviews.csv');
  await writeFile(input, `id,text\n${rows.join('\n')}\n`);
  return { dir, input, ids: rows.map((r) => r.slice(0, r.indexOf(','))) };
}

const jsonl = async (path: string): Promise<Array<Record<string, unknown>>> => (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('createGeminiClient over HTTP (the emulator\'s Gemini personality)', () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs' | 'provider'> }> {
    const emu = await startEmulator({ ...FAST, ...options });
    emulators.push(emu);
    return { emu, base: { client: createClient({ provider: 'gemini', apiKey: 'g-key', baseURL: emu.baseURL }), provider: 'gemini', model: MODEL, pollIntervalMs: 20 } };
  }
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  let shared: Awaited<ReturnType<typeof emulator>>;
  beforeAll(async () => {
    shared = await emulator();
  });

  it('runs a labelled job over several batches: every record once, in input order, with confidence from logprobs', async () => {
    const { dir, input, ids } = await reviews(5);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...shared.base, input, prompt: 'Label as one of: positive, negative. Review: {{text}}', labels: LABELS, logprobs: true, topLogprobs: 3, maxRequests: 3, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 9, succeeded: 9, failed: 0, batches: 3, mode: 'batch' });
    const rows = await jsonl(out);
    expect(rows.map((r) => r['id'])).toEqual(ids);
    expect(rows[1]!['text']).toBe('line one\nline two — terrible');
    expect(rows[2]!['text']).toBe(`${'long é '.repeat(2_000)}great`);
    for (const row of rows) {
      expect(LABELS).toContain(row['label']);
      expect(row['confidence']).toEqual(expect.any(Number));
      expect([row['finish_reason'], row['error']]).toEqual(['stop', null]);
    }
    expect(rows.slice(0, 4).map((r) => r['label'])).toEqual(['positive', 'negative', 'positive', 'negative']);
  });

  it('runs a job with a schema: answers validated and their fields added', async () => {
    const { dir, input, ids } = await reviews();
    const schema = z.object({ sentiment: z.enum(['positive', 'negative']), score: z.number() });
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...shared.base, input, prompt: 'Review: {{text}}', schema, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 4, succeeded: 4 });
    const rows = await jsonl(out);
    expect(rows.map((r) => r['id'])).toEqual(ids);
    for (const row of rows) expect(schema.safeParse({ sentiment: row['sentiment'], score: row['score'] }).success).toBe(true);
  });

  it('adopts the batch whose create answer was lost (found by its displayName): no second batch', async () => {
    const { emu, base } = await emulator({ faults: { loseResponseRate: 1, routes: ['POST /v1beta/models/:modelAction'] } });
    const { dir, input } = await reviews();
    const events: string[] = [];
    const summary = await runJob({ ...base, input, prompt: 'Review: {{text}}', labels: LABELS, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job'), retryBaseMs: 1, onProgress: (e) => e.type === 'created' && events.push(`${e.type}:${String(e.adopted)}`) } as RunJobOptions);
    expect(summary).toMatchObject({ records: 4, succeeded: 4 });
    expect(events).toEqual(['created:true']);
    expect(emu.stats().batchesCreated).toBe(1);
  });

  it('keeps an expired batch\'s finished answers and resends only the rest', async () => {
    const { base } = await emulator({ faults: { expireAfterLines: 3 } });
    const { dir, input, ids } = await reviews(4);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, input, prompt: 'Review: {{text}}', labels: LABELS, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 8, succeeded: 8 });
    expect((await jsonl(out)).map((r) => r['id'])).toEqual(ids);
    const { parts } = await loadManifest(join(dir, 'job'));
    const first = parts[0]!;
    expect([first.status, first.succeeded, first.requests]).toEqual(['expired', 3, 8]);
    const resent = parts.find((p) => p.parent === first.index)!;
    expect(resent.requests).toBe(5);
  });

  it('never cancels a stalled batch on gemini (finishRealtime is off: a cancelled batch may keep no responses file) and waits for it', async () => {
    const { emu, base } = await emulator({ faults: { slowTailLines: 3, slowTailMs: 1_500 } });
    const { dir, input, ids } = await reviews(16);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, input, prompt: 'Review: {{text}}', labels: LABELS, output: out, jobDir: join(dir, 'job'), retries: 0, finishRealtime: true, stragglerThreshold: 5, stragglerWaitMs: 100 });
    expect(summary).toMatchObject({ records: 20, succeeded: 20, failed: 0, batches: 1, duplicateResults: 0, unknownResults: 0, stragglerRequests: 0 });
    expect((await jsonl(out)).map((r) => r['id'])).toEqual(ids);
    expect(emu.stats().chatRequests).toBe(0);
    expect(Object.keys(emu.stats().requests).filter((route) => route.startsWith('POST /v1beta/batches'))).toEqual([]);
    const { parts } = await loadManifest(join(dir, 'job'));
    expect(parts).toHaveLength(1);
    expect(parts[0]!.status).toBe('completed');
    expect(parts[0]!.cancelRequested).toBeFalsy();
  });

  it('refuses a parameter Gemini does not take before anything is sent (PARAM_UNSUPPORTED; the server saw no request), in batch and realtime mode', async () => {
    const { emu, base } = await emulator();
    for (const mode of ['batch', 'realtime'] as const) {
      const { dir, input } = await reviews();
      const err = await catchError(() => runJob({ ...base, mode, input, prompt: 'Review: {{text}}', logitBias: { '42': 5 }, output: join(dir, 'out.jsonl'), jobDir: join(dir, 'job') }));
      expectKbatchError(err, { code: 'PARAM_UNSUPPORTED', field: 'logit_bias', message: /custom_id row-1\): Parameter `logit_bias` is not supported by provider gemini/ });
    }
    expect(emu.stats().requests).toEqual({});
  });

  it('runs realtime through generateContent, waiting out 429s (Retry-After) in Google\'s error shape', async () => {
    const { emu, base } = await emulator({ faults: { rate429: 0.4, retryAfterSeconds: 0.01, routes: ['POST /v1beta/models/:modelAction'] } });
    const { dir, input, ids } = await reviews(6);
    const out = join(dir, 'out.jsonl');
    const summary = await runJob({ ...base, mode: 'realtime', input, prompt: 'Review: {{text}}', labels: LABELS, logprobs: true, topLogprobs: 2, output: out, jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 10, succeeded: 10, mode: 'realtime' });
    const rows = await jsonl(out);
    expect(rows.map((r) => r['id'])).toEqual(ids);
    expect(rows.every((r) => typeof r['confidence'] === 'number')).toBe(true);
    expect(emu.stats().requests['POST /v1beta/models/:modelAction']).toBeGreaterThan(10);
    expect(emu.stats().batchesCreated).toBe(0);
  });

  it('uploads a chunk over 8 MiB in several resumable requests, converted line by line, retrying transient failures from the start', async () => {
    const { emu } = await emulator({ faults: { rate5xx: 0.3, routes: ['POST /upload/v1beta/files'] } });
    const client = createClient({ provider: 'gemini', apiKey: 'g-key', baseURL: emu.baseURL }) as unknown as JobClient;
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-gemini-upload-'));
    const path = join(dir, 'part.jsonl');
    const text = `${'ü "x"\\n '.repeat(3_000)}`;
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: `${i} ${text}` }] } }));
    await writeFile(path, `${lines.join('\n')}\n`);
    const bytes = await readFile(path);
    expect(bytes.length).toBeGreaterThan(UPLOAD_CHUNK_BYTES);
    const retries: number[] = [];
    const file = await client.uploadBatchInput!(path, { filename: 'part.jsonl', expectedSha256: createHash('sha256').update(bytes).digest('hex'), retryBaseMs: 1, maxAttempts: 20, onRetry: ({ attempt }) => retries.push(attempt) });
    expect(file.id).toMatch(new RegExp(`^files/[0-9a-f]+#model=${MODEL}$`));
    expect(retries.length).toBeGreaterThan(0);
    const stored = (await (await fetch(`${emu.baseURL}/download/v1beta/${file.id.split('#')[0]}:download?alt=media`, { headers: { 'x-goog-api-key': 'g-key' } })).text()).trim().split('\n');
    expect(stored).toHaveLength(500);
    expect(JSON.parse(stored[499]!)).toEqual({ key: 'r499', request: { contents: [{ role: 'user', parts: [{ text: `499 ${text}` }] }] } });
  });

  it('aborts an upload whose chunk changed after the job recorded it (JOB_MISMATCH) before the server completes a file', async () => {
    const { emu } = await emulator();
    const client = createClient({ provider: 'gemini', apiKey: 'g-key', baseURL: emu.baseURL }) as unknown as JobClient;
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-gemini-upload-'));
    const path = join(dir, 'part.jsonl');
    await writeFile(path, `${JSON.stringify({ custom_id: 'a', body: { model: MODEL, messages: [{ role: 'user', content: 'x' }] } })}\n`);
    expectKbatchError(await catchError(() => client.uploadBatchInput!(path, { expectedSha256: '0'.repeat(64) })), { code: 'JOB_MISMATCH' });
    expect(emu.stats().filesCreated).toBe(0);
  });

  it('lists the models (kbatch models) without the models/ prefix', async () => {
    const ids: string[] = [];
    for await (const model of shared.base.client!.models.list()) ids.push(model.id);
    expect(ids).toEqual(['gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-2.5-pro']);
  });

  it('maps a Google error to the openai SDK\'s error of that status (status, message and Retry-After kept)', async () => {
    const client = createClient({ provider: 'gemini', apiKey: 'wrong', baseURL: shared.emu.baseURL });
    const err = (await catchError(() => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }))) as { status: number; message: string };
    expect(err.status).toBe(401);
    expect(err.message).toContain('Invalid or missing API key');
    const { emu } = await emulator({ faults: { rate429: 1, retryAfterSeconds: 7 } });
    const limited = createClient({ provider: 'gemini', apiKey: 'g-key', baseURL: emu.baseURL, maxRetries: 0 });
    const rate = (await catchError(() => limited.batches.retrieve('batches/x'))) as { status: number; headers: Headers; error: unknown };
    expect([rate.status, rate.headers.get('retry-after'), rate.error]).toEqual([429, '7', expect.objectContaining({ code: 429, status: 'RESOURCE_EXHAUSTED' })]);
  });

  it('refuses an input id naming no model, and metadata too long for a displayName, with OPTION_INVALID before anything is sent', async () => {
    const { emu, base } = await emulator();
    expectKbatchError(await catchError(() => base.client!.batches.create({ input_file_id: 'files/abc', endpoint: '/v1/chat/completions', completion_window: '24h' })), { code: 'OPTION_INVALID', field: 'input_file_id', message: /files\/abc was not uploaded by kbatch's Gemini adapter/ });
    const metadata = { kbatch_job: `kb-${'x'.repeat(120)}`, kbatch_chunk: '00001', kbatch_sha256: 'ab'.repeat(32) };
    expectKbatchError(await catchError(() => base.client!.batches.create({ input_file_id: `files/abc#model=${MODEL}`, endpoint: '/v1/chat/completions', completion_window: '24h', metadata })), { code: 'OPTION_INVALID', field: 'metadata' });
    expect(emu.stats().requests).toEqual({});
  });

  it('deletes an ended batch (DELETE /v1beta/batches/:id answers {}), and it is listed no more', async () => {
    const { emu } = await emulator();
    const client = createClient({ provider: 'gemini', apiKey: 'g-key', baseURL: emu.baseURL }) as unknown as JobClient;
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-gemini-delete-'));
    const path = join(dir, 'part.jsonl');
    await writeFile(path, `${JSON.stringify({ custom_id: 'a', body: { model: MODEL, messages: [{ role: 'user', content: 'x' }] } })}\n`);
    const file = await client.uploadBatchInput!(path, {});
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    let running = await fetch(`${emu.baseURL}/v1beta/${batch.id}`, { method: 'DELETE', headers: { 'x-goog-api-key': 'g-key' } });
    if (running.status === 400) expect((await running.json()) as unknown).toMatchObject({ error: { status: 'INVALID_ARGUMENT', message: /cancel it before deleting it/ } });
    for (let b = batch; !['completed', 'failed', 'cancelled', 'expired'].includes(b.status); b = await client.batches.retrieve(batch.id)) await new Promise((r) => setTimeout(r, 20));
    running = await fetch(`${emu.baseURL}/v1beta/${batch.id}`, { method: 'DELETE', headers: { 'x-goog-api-key': 'g-key' } });
    expect([running.status, await running.json()]).toEqual([200, {}]);
    expect((await client.batches.list()).data).toEqual([]);
  });
});

describe('createGeminiClient against a server that answers oddly', () => {
  let server: Server;
  let origin: string;
  const seen: string[] = [];
  let echoed: string | null = null;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        if (req.url?.includes(':batchGenerateContent')) {
          const sent = (JSON.parse(body) as { batch: { displayName: string } }).batch.displayName;
          res.end(JSON.stringify({ name: 'batches/b1', metadata: { name: 'batches/b1', displayName: echoed ?? sent, state: 'BATCH_STATE_PENDING' } }));
        } else if (req.url?.endsWith(':cancel')) res.end('{}');
        else if (req.url?.startsWith('/download/')) res.end('{"key":"a","response":{}}\n{not json\n');
        else res.end(JSON.stringify({ name: 'batches/b1', metadata: { state: 'BATCH_STATE_CANCELLED' } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('cancels a batch whose displayName came back changed and stops with RESPONSE_INVALID (it could not be adopted after a crash)', async () => {
    const client = createClient({ provider: 'gemini', apiKey: 'k', baseURL: origin, maxRetries: 0 });
    const metadata = { kbatch_job: 'kb-1', kbatch_chunk: '00001', kbatch_sha256: 'ab'.repeat(32) };
    const create = () => client.batches.create({ input_file_id: `files/f#model=${MODEL}`, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
    echoed = null;
    expect((await create()).metadata).toEqual(metadata);
    seen.length = 0;
    echoed = 'kbatch:kb-1:00001:truncat';
    expectKbatchError(await catchError(create), { code: 'RESPONSE_INVALID', batchId: 'batches/b1', message: /kept the batch displayName as "kbatch:kb-1:00001:truncat".*batch batches\/b1 was cancelled/ });
    expect(seen).toContain('POST /v1beta/batches/b1:cancel');
  });

  it('fails a responses download on a line that is not JSON with RESPONSE_INVALID', async () => {
    const client = createClient({ provider: 'gemini', apiKey: 'k', baseURL: origin, maxRetries: 0 });
    const res = await client.files.content('files/r');
    expectKbatchError(await catchError(() => res.text()), { code: 'RESPONSE_INVALID', message: /A line of a Gemini responses file is not JSON: \{not json/ });
  });

  it('reports the openai client\'s default timeout (600 s) and applies a given one to batch calls', async () => {
    expect(createClient({ provider: 'gemini', apiKey: 'k', baseURL: origin }).timeout).toBe(600_000);
    const stall = createServer(() => undefined);
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    try {
      const client = createClient({ provider: 'gemini', apiKey: 'k', baseURL: `http://127.0.0.1:${(stall.address() as { port: number }).port}`, maxRetries: 0, timeout: 100 });
      expect(await catchError(() => client.batches.retrieve('batches/x'))).toBeInstanceOf(APIConnectionError);
    } finally {
      stall.closeAllConnections();
      await new Promise((resolve) => stall.close(resolve));
    }
  });
});
