import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createBatch, readJsonl, requestLine, setup, uploadJsonl, waitForBatch, withEmulator, MODEL } from '../helpers/emulator.js';
import type { Emulator } from '../../src/index.js';

const lines = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => requestLine(`${prefix}${i}`, `Say hello to item ${i}`));

describe('batches', () => {
  let emu: Emulator;
  let client: OpenAI;
  beforeAll(async () => ({ emu, client } = await setup()));
  afterAll(() => emu.close());

  it('runs validating → in_progress → finalizing → completed with exact counts and timestamps', async () => {
    const created = await createBatch(client, lines(20));
    expect(created).toMatchObject({ object: 'batch', status: 'validating', endpoint: '/v1/chat/completions', completion_window: '24h', output_file_id: null });
    expect(typeof created.created_at).toBe('number');
    expect(created.expires_at).toBeGreaterThan(created.created_at);
    const done = await waitForBatch(client, created.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
    for (const key of ['created_at', 'in_progress_at', 'finalizing_at', 'completed_at'] as const) expect(typeof done[key]).toBe('string');
    expect(done.failed_at).toBeNull();
    expect(done.error_file_id).toBeNull();
    const out = await readJsonl(client, done.output_file_id!);
    expect(out.map((o) => o.custom_id).sort()).toEqual(lines(20).map((l) => l.custom_id).sort());
    expect(out.map((o) => o.custom_id)).not.toEqual(lines(20).map((l) => l.custom_id));
    expect(out[0]).toMatchObject({ id: expect.stringMatching(/^batch_req_/), error: null, response: { status_code: 200, request_id: expect.any(String) } });
    expect(out[0].response.body).toMatchObject({ object: 'chat.completion', model: MODEL, choices: [{ finish_reason: 'stop' }] });
    const file = await client.files.retrieve(done.output_file_id!);
    expect(file.purpose).toBe('batch_output');
  });

  it('shuffles output order even for two lines', async () => {
    const b = await waitForBatch(client, (await createBatch(client, lines(2))).id);
    expect((await readJsonl(client, b.output_file_id!)).map((o) => o.custom_id)).toEqual(['r1', 'r0']);
  });

  it('updates request_counts while in_progress', async () => {
    await withEmulator({ lineMs: 20 }, async ({ client }) => {
      const b = await createBatch(client, lines(30));
      const seen = new Set<number>();
      for (;;) {
        const cur = await client.batches.retrieve(b.id);
        if (cur.status === 'in_progress') seen.add(cur.request_counts!.completed);
        if (cur.status === 'completed') break;
        await new Promise((r) => setTimeout(r, 30));
      }
      expect([...seen].some((n) => n > 0 && n < 30)).toBe(true);
    });
  });

  it('fails validation with errors.data[] {code,message,param,line} for each invalid line', async () => {
    const bad = [
      requestLine('a', 'ok'),
      'not json',
      { method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [] } },
      requestLine('a', 'duplicate'),
      { ...requestLine('g', 'x'), method: 'GET' },
      { ...requestLine('u', 'x'), url: '/v1/embeddings' },
      requestLine('m', 'x', { model: 'no-such-model' }),
    ];
    const b = await waitForBatch(client, (await createBatch(client, bad)).id);
    expect(b.status).toBe('failed');
    expect(typeof b.failed_at).toBe('string');
    expect(b.output_file_id).toBeNull();
    const errors = b.errors!.data!.map((e) => [e.code, e.param, e.line]);
    expect(errors).toEqual([
      ['invalid_json_line', null, 2],
      ['missing_custom_id', 'custom_id', 3],
      ['duplicate_custom_id', 'custom_id', 4],
      ['invalid_method', 'method', 5],
      ['invalid_url', 'url', 6],
      ['model_not_found', 'body.model', 7],
    ]);
    expect(b.errors!.data![0]!.message).toContain('Line 2');
  });

  it('fails a batch over maxRequestsPerBatch or maxBatchBytes, and an empty file', async () => {
    await withEmulator({ maxRequestsPerBatch: 3, maxBatchBytes: 2000 }, async ({ client }) => {
      const tooMany = await waitForBatch(client, (await createBatch(client, lines(4))).id);
      expect(tooMany.errors!.data![0]).toMatchObject({ code: 'too_many_requests', line: null });
      const big = await waitForBatch(client, (await createBatch(client, [requestLine('a', 'x'.repeat(3000))])).id);
      expect(big.errors!.data![0]).toMatchObject({ code: 'file_too_large', param: 'input_file_id' });
      const empty = await waitForBatch(client, (await createBatch(client, [''])).id);
      expect(empty.errors!.data![0]).toMatchObject({ code: 'empty_file' });
    });
  });

  it('fails a batch with a line over maxLineBytes (line_too_long naming the line)', async () => {
    await withEmulator({ maxLineBytes: 500 }, async ({ client }) => {
      const b = await waitForBatch(client, (await createBatch(client, [requestLine('a', 'x'), requestLine('b', 'y'.repeat(600)), requestLine('c', 'z')])).id);
      expect(b.status).toBe('failed');
      expect(b.errors!.data!.map((e) => [e.code, e.line])).toEqual([['line_too_long', 2]]);
      expect(b.errors!.data![0]!.message).toMatch(/^Line 2 has \d+ bytes; the limit is 500 bytes per line$/);
    });
  });

  it('writes failed requests to the error file with status code and error body', async () => {
    const b = await waitForBatch(client, (await createBatch(client, [requestLine('ok', 'hi'), { ...requestLine('bad', 'x'), body: { model: MODEL, messages: 'nope' } }])).id);
    expect(b.status).toBe('completed');
    expect(b.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    const errs = await readJsonl(client, b.error_file_id!);
    expect(errs).toEqual([
      {
        id: expect.any(String),
        custom_id: 'bad',
        response: { status_code: 400, request_id: expect.any(String), body: { error: { message: expect.any(String), type: 'invalid_request_error', param: 'messages', code: 'invalid_value' } } },
        error: null,
      },
    ]);
  });

  it('cancels an in-progress batch: cancelling → cancelled, keeping partial output', async () => {
    await withEmulator({ lineMs: 10, finalizingMs: 30 }, async ({ client }) => {
      const b = await createBatch(client, lines(200));
      await waitForBatch(client, b.id, ['in_progress']);
      await new Promise((r) => setTimeout(r, 100));
      const cancelling = await client.batches.cancel(b.id);
      expect(cancelling.status).toBe('cancelling');
      expect(cancelling.cancelling_at).not.toBeNull();
      const done = await waitForBatch(client, b.id);
      expect(done.status).toBe('cancelled');
      expect(done.cancelled_at).not.toBeNull();
      const partial = await readJsonl(client, done.output_file_id!);
      expect(partial.length).toBe(done.request_counts!.completed);
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(200);
      await expect(client.batches.cancel(b.id)).resolves.toMatchObject({ status: 'cancelled' });
    });
  });

  it('cancels a batch still validating', async () => {
    await withEmulator({ validationMs: 200 }, async ({ client }) => {
      const b = await createBatch(client, lines(3));
      expect((await client.batches.cancel(b.id)).status).toBe('cancelling');
      const done = await waitForBatch(client, b.id);
      expect(done).toMatchObject({ status: 'cancelled', output_file_id: null });
    });
  });

  it('refuses to cancel a completed batch', async () => {
    const b = await waitForBatch(client, (await createBatch(client, lines(1))).id);
    await expect(client.batches.cancel(b.id)).rejects.toMatchObject({ status: 400, error: { code: 'batch_not_cancellable' } });
  });

  it('expires when the scaled completion window passes, keeping partial output', async () => {
    // 1h × 0.0001 = 360 ms; 100 lines × 10 ms = 1 s.
    await withEmulator({ timeScale: 0.0001, lineMs: 10 }, async ({ client }) => {
      const b = await createBatch(client, lines(100), '1h');
      const done = await waitForBatch(client, b.id);
      expect(done.status).toBe('expired');
      expect(done.expired_at).not.toBeNull();
      const partial = await readJsonl(client, done.output_file_id!);
      expect(partial.length).toBe(done.request_counts!.completed);
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(100);
    });
  });

  it('rejects invalid create parameters', async () => {
    const file = await uploadJsonl(client, [requestLine('a', 'x')]);
    await expect(client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings' as '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({
      status: 400,
      error: { param: 'endpoint' },
    });
    await expect(client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '2h' as '24h' })).rejects.toMatchObject({
      status: 400,
      error: { param: 'completion_window' },
    });
    await expect(client.batches.create({ input_file_id: 'file-missing', endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toMatchObject({ status: 404 });
    await expect(client.batches.retrieve('batch_missing')).rejects.toMatchObject({ status: 404 });
  });

  it('keeps metadata and accepts every reference completion window', async () => {
    const file = await uploadJsonl(client, [requestLine('a', 'x')]);
    for (const w of ['1h', '3h', '6h', '12h', '24h'] as const) {
      const b = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: w as '24h', metadata: { job: 'x' } });
      expect(b.metadata).toEqual({ job: 'x' });
      expect(b.completion_window).toBe(w);
    }
  });

  it('lists batches newest first with after/limit/has_more/first_id/last_id and the extra list fields', async () => {
    await withEmulator({}, async ({ client, emu }) => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await createBatch(client, lines(1))).id);
      const page1 = await client.batches.list({ limit: 2 });
      expect(page1.data.map((b) => b.id)).toEqual([ids[4], ids[3]]);
      expect(page1.has_more).toBe(true);
      const raw = await (await fetch(`${emu.baseURL}/batches?limit=2&after=${ids[3]}`)).json();
      expect(raw).toMatchObject({ object: 'list', first_id: ids[2], last_id: ids[1], has_more: true, count: 2, page: 2, page_count: 3, items_per_page: 2 });
      const all = [];
      for await (const b of client.batches.list({ limit: 2 })) all.push(b.id);
      expect(all).toEqual([...ids].reverse());
      await expect(client.batches.list({ limit: 101 })).rejects.toMatchObject({ status: 400, error: { param: 'limit' } });
    });
  });

  it('counts requests and creations in stats()', async () => {
    const before = emu.stats();
    await createBatch(client, lines(1));
    const after = emu.stats();
    expect(after.batchesCreated).toBe(before.batchesCreated + 1);
    expect(after.filesCreated).toBe(before.filesCreated + 1);
    expect(after.requests['POST /v1/batches']).toBe((before.requests['POST /v1/batches'] ?? 0) + 1);
  });
});

describe('stats() of active batches', () => {
  it('counts batches not yet ended now and at their peak', async () => {
    await withEmulator({ lineMs: 30 }, async ({ client, emu }) => {
      expect(emu.stats()).toMatchObject({ activeBatches: 0, maxActiveBatches: 0 });
      const first = await createBatch(client, lines(3, 'a'));
      const second = await createBatch(client, lines(3, 'b'));
      expect(emu.stats()).toMatchObject({ activeBatches: 2, maxActiveBatches: 2 });
      await waitForBatch(client, first.id);
      await waitForBatch(client, second.id);
      expect(emu.stats()).toMatchObject({ activeBatches: 0, maxActiveBatches: 2 });
      // One at a time after that: the peak stays what it was.
      await waitForBatch(client, (await createBatch(client, lines(1, 'c'))).id);
      expect(emu.stats()).toMatchObject({ activeBatches: 0, maxActiveBatches: 2 });
    });
  });
});

describe('batches as a provider personality (OpenAI: 24h only, one model per file, Bearer only)', () => {
  const OPENAI = { completionWindows: ['24h'], oneModelPerFile: true, bearerOnly: true, maxRequestsPerBatch: 50_000, maxBatchBytes: 200_000_000, apiKey: 'sk-test' };

  it('refuses a completion window the personality does not offer, listing the ones it does', async () => {
    await withEmulator(OPENAI, async ({ client }) => {
      const file = await uploadJsonl(client, lines(1));
      const err = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '1h' as '24h' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toContain('completion_window must be one of 24h, got "1h"');
      expect((await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).status).toBe('validating');
    }, { apiKey: 'sk-test' });
  });

  it('takes longer windows when listed (kluster-2025: 48h, 72h)', async () => {
    await withEmulator({ completionWindows: ['24h', '48h', '72h'] }, async ({ client }) => {
      const file = await uploadJsonl(client, lines(1));
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '72h' as '24h' });
      expect(batch.expires_at - batch.created_at).toBeGreaterThan(0);
      expect((await waitForBatch(client, batch.id)).status).toBe('completed');
    });
  });

  it('takes any window within a range (groq: 24h to 7d) and refuses one outside it, naming the range', async () => {
    await withEmulator({ completionWindows: { min: '24h', max: '7d' } }, async ({ client }) => {
      const file = await uploadJsonl(client, lines(1));
      const create = (window: string) => client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: window as '24h' });
      expect((await create('36h')).completion_window).toBe('36h');
      expect((await create('7d')).completion_window).toBe('7d');
      const err = await create('8d').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toContain('completion_window must be from 24h to 7d, got "8d"');
    });
  });

  it("keeps output_expires_after as the output files' expires_at, and refuses one outside 1 hour to 30 days", async () => {
    await withEmulator(OPENAI, async ({ client }) => {
      const file = await uploadJsonl(client, lines(2));
      const create = (seconds: number) => client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', output_expires_after: { anchor: 'created_at', seconds } });
      const batch = await waitForBatch(client, (await create(3_600)).id);
      const output = (await client.files.retrieve(batch.output_file_id!)) as unknown as { created_at: string; expires_at: number };
      expect(output.expires_at - Number(output.created_at)).toBe(3_600);
      for (const seconds of [3_599, 2_592_001]) {
        const err = await create(seconds).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OpenAI.BadRequestError);
        expect((err as Error).message).toContain('output_expires_after must be');
      }
    }, { apiKey: 'sk-test' });
  });

  it('fails the validation of a file that mixes models, naming each other-model line (model_mismatch)', async () => {
    await withEmulator(OPENAI, async ({ client }) => {
      const other = (await client.models.list()).data.map((m) => m.id).find((id) => id !== MODEL)!;
      const mixed = [requestLine('a', 'x'), { ...requestLine('b', 'y'), body: { model: other, messages: [{ role: 'user', content: 'y' }] } }, requestLine('c', 'z')];
      const batch = await waitForBatch(client, (await createBatch(client, mixed)).id);
      expect(batch.status).toBe('failed');
      expect(batch.errors?.data?.map((e) => [e.code, e.line])).toEqual([['model_mismatch', 2]]);
    }, { apiKey: 'sk-test' });
  });
});
