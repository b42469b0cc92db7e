import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RateLimitError } from 'openai';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createClient } from '../../../src/client/create-kluster-client.js';
import type { JobClient } from '../../../src/job/job-types.js';
import { isTransientError, retryAfterMs } from '../../../src/client/retry.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const MODEL = 'claude-haiku-5-5';
const line = (id: string, body: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: `Answer with one of these labels: yes, no. ${id}` }], ...body } });

async function chunk(lines: string[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'kbatch-anth-')), 'part-00001.jsonl');
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

async function ended(client: JobClient, id: string) {
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (['completed', 'expired', 'cancelled'].includes(batch.status)) return batch;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('createAnthropicClient over HTTP (the emulator\'s anthropic personality, @anthropic-ai/sdk)', () => {
  let emu: Emulator;
  let client: JobClient & { chat: { completions: { create: (body: unknown, options?: unknown) => Promise<unknown> } } };
  beforeAll(async () => {
    emu = await startEmulator({ provider: 'anthropic', apiKey: 'sk-ant-test', timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 3 });
    client = createClient({ provider: 'anthropic', apiKey: 'sk-ant-test', baseURL: emu.baseURL, maxRetries: 0 }) as never;
  });
  afterAll(async () => {
    await emu.close();
  });

  it('answers a chat completion through POST /v1/messages, system prompt and tokens mapped', async () => {
    const completion = (await client.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Answer with one of these labels: positive, negative. Great stuff' }], max_completion_tokens: 5 })) as {
      choices: Array<{ message: { content: string }; finish_reason: string }>;
      usage: { total_tokens: number };
    };
    expect(completion.choices[0]).toMatchObject({ message: { content: 'positive' }, finish_reason: 'stop' });
    expect(completion.usage.total_tokens).toBeGreaterThan(0);
  });

  it("turns a 429 into the openai SDK's RateLimitError with its Retry-After, so kbatch's retry rules apply", async () => {
    emu.setFaults({ rate429: 1, retryAfterSeconds: 3, routes: ['POST /v1/messages'] });
    try {
      const err = await catchError(() => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }));
      expect(err).toBeInstanceOf(RateLimitError);
      expect([isTransientError(err), retryAfterMs(err)]).toEqual([true, 3000]);
    } finally {
      emu.setFaults(null);
    }
  });

  it('refuses temperature before anything is sent (the emulator sees no request)', async () => {
    const before = emu.stats().requests['POST /v1/messages'] ?? 0;
    const err = await catchError(() => client.chat.completions.create({ model: MODEL, temperature: 0, messages: [{ role: 'user', content: 'x' }] }));
    expectKbatchError(err, { code: 'PARAM_UNSUPPORTED', field: 'temperature' });
    expect(emu.stats().requests['POST /v1/messages'] ?? 0).toBe(before);
  });

  it('stages a chunk without sending it, creates the batch inline, and streams OpenAI-shaped results with the ids decoded', async () => {
    const path = await chunk([line('a b/é'), line('row-2'), line('__x')]);
    const before = emu.stats().requests['POST /v1/messages/batches'] ?? 0;
    const file = await client.uploadBatchInput!(path, { purpose: 'batch', filename: 'x.jsonl' });
    expect(file.id).toMatch(/^local-chunk:[0-9a-f]{64}:/);
    expect(file.id.endsWith(`:${path}`)).toBe(true);
    expect(emu.stats().requests['POST /v1/messages/batches'] ?? 0).toBe(before);
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(created).toMatchObject({ status: 'in_progress', request_counts: { total: 3, completed: 0 } });
    const done = await ended(client, created.id);
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 }, error_file_id: null });
    const text = await (await client.files.content(done.output_file_id!)).text();
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number; body: { choices: Array<{ message: { content: string } }> } } });
    expect(lines.map((l) => l.custom_id).sort()).toEqual(['__x', 'a b/é', 'row-2']);
    expect(lines.every((l) => l.response.status_code === 200 && ['yes', 'no'].includes(l.response.body.choices[0]!.message.content))).toBe(true);
  });

  it('aborts the create with JOB_MISMATCH when the chunk changed after staging (the server creates no batch), and still takes an id staged with the tag only', async () => {
    const path = await chunk([line('m1'), line('m2')]);
    const file = await client.uploadBatchInput!(path, { purpose: 'batch', filename: 'x.jsonl' });
    await writeFile(path, `${[line('m1'), line('m3')].join('\n')}\n`);
    const created = emu.stats().batchesCreated;
    const err = await catchError(() => client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }));
    expectKbatchError(err, { code: 'JOB_MISMATCH', file: path });
    expect(emu.stats().batchesCreated).toBe(created);
    // An id staged before the sha256 was kept (`local-chunk:<tag>:<path>`): its tag is checked instead.
    const restaged = await client.uploadBatchInput!(path, { purpose: 'batch', filename: 'x.jsonl' });
    const old = `local-chunk:${restaged.id.slice('local-chunk:'.length, 'local-chunk:'.length + 8)}:${path}`;
    const batch = await client.batches.create({ input_file_id: old, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(batch.request_counts.total).toBe(2);
    await rm(path);
    expectKbatchError(await catchError(() => client.batches.create({ input_file_id: old, endpoint: '/v1/chat/completions', completion_window: '24h' })), { code: 'JOB_MISMATCH', message: 'is gone' });
    expect(emu.stats().batchesCreated).toBe(created + 1);
    expectKbatchError(await catchError(() => client.batches.create({ input_file_id: file.id.replace(/^local-chunk:[0-9a-f]{8}/, 'local-chunk:') , endpoint: '/v1/chat/completions', completion_window: '24h' })), { code: 'OPTION_INVALID' });
  });

  it("refuses with JOB_MISMATCH a results line whose custom_id lacks the batch's chunk tag, decoding none of them", async () => {
    const request = (id: string) => ({ custom_id: id, params: { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: id }] } });
    for (const ids of [['deadbeef_a', 'cafebabe_b'], ['plain-a', 'plain-b']]) {
      const posted = await fetch(`${emu.baseURL}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': 'sk-ant-test', 'content-type': 'application/json' }, body: JSON.stringify({ requests: ids.map(request) }) });
      const done = await ended(client, ((await posted.json()) as { id: string }).id);
      const err = await catchError(async () => (await client.files.content(done.output_file_id!)).text());
      expectKbatchError(err, { code: 'JOB_MISMATCH', batchId: done.id });
    }
  });

  it('refuses a chunk with a parameter Anthropic does not take at staging, naming line and custom_id', async () => {
    const path = await chunk([line('r1'), line('r2', { top_p: 0.5 })]);
    expectKbatchError(await catchError(() => client.uploadBatchInput!(path, { purpose: 'batch', filename: 'x.jsonl' })), { code: 'PARAM_UNSUPPORTED', line: 2, customId: 'r2' });
  });

  it('cancels a running batch: its unrun requests come back as batch_cancelled lines in the error file', async () => {
    emu.setFaults({ slowTailLines: 2, slowTailMs: 60_000 });
    try {
      const file = await client.uploadBatchInput!(await chunk([line('c1'), line('c2'), line('c3')]), { purpose: 'batch', filename: 'x.jsonl' });
      const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const cancelling = await client.batches.cancel(created.id);
      expect(['cancelling', 'cancelled']).toContain(cancelling.status);
      const done = await ended(client, created.id);
      expect(done.status).toBe('cancelled');
      const errors = (await (await client.files.content(done.error_file_id!)).text()).trim().split('\n').map((l) => JSON.parse(l) as { error: { code: string } | null });
      expect(errors.length).toBeGreaterThanOrEqual(2);
      expect(errors.every((e) => e.error?.code === 'batch_cancelled')).toBe(true);
    } finally {
      emu.setFaults(null);
    }
  });

  it('lists newest first, paging with after like OpenAI (after_id on the wire)', async () => {
    const first = await client.batches.list({ limit: 1 });
    expect(first.data).toHaveLength(1);
    const second = await client.batches.list({ limit: 1, after: first.data[0]!.id });
    expect(second.data[0]!.id).not.toBe(first.data[0]!.id);
    expect(second.data[0]!.created_at! <= first.data[0]!.created_at!).toBe(true);
  });

  it('refuses a wrong key with the openai AuthenticationError (401)', async () => {
    const wrong = createClient({ provider: 'anthropic', apiKey: 'nope', baseURL: emu.baseURL, maxRetries: 0 });
    const err = (await catchError(() => wrong.batches.retrieve('msgbatch_x'))) as { status?: number; constructor: { name: string } };
    expect([err.status, err.constructor.name]).toEqual([401, 'AuthenticationError']);
  });
});
