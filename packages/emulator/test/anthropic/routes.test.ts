import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/index.js';

const KEY = 'sk-ant-emu';
const MODEL = 'claude-haiku-5-5';
const request = (id: string, params: Record<string, unknown> = {}) => ({ custom_id: id, params: { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: `Answer with one of these labels: positive, negative. ${id} is great` }], ...params } });

type Batch = { id: string; processing_status: string; request_counts: Record<string, number>; results_url: string | null; cancel_initiated_at: string | null; created_at: string };

describe('the anthropic personality (Message Batches and Messages on the wire)', () => {
  let emu: Emulator;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = { 'x-api-key': KEY }) => {
    const res = await fetch(`${emu.baseURL}${path}`, { method, headers: { 'content-type': 'application/json', 'anthropic-version': '2026-10-21', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };
  const ended = async (id: string): Promise<Batch> => {
    for (;;) {
      const batch = (await call('GET', `/v1/messages/batches/${id}`)).json() as unknown as Batch;
      if (batch.processing_status === 'ended') return batch;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const results = async (batch: Batch) => (await (await fetch(batch.results_url!, { headers: { 'x-api-key': KEY } })).text()).trim().split('\n').map((l) => JSON.parse(l) as { custom_id: string; result: { type: string; error?: { error: { type: string; message: string } } } });

  beforeAll(async () => {
    emu = await startEmulator({ provider: 'anthropic', apiKey: KEY, timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 5 });
  });
  afterAll(() => emu.close());

  it('serves the bare origin as its base URL (what the Anthropic SDK takes)', () => {
    expect(emu.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('accepts x-api-key and Bearer, and refuses a wrong key with an Anthropic error body', async () => {
    expect((await call('GET', '/v1/messages/batches')).status).toBe(200);
    expect((await call('GET', '/v1/messages/batches', undefined, { authorization: `Bearer ${KEY}` })).status).toBe(200);
    const denied = await call('GET', '/v1/messages/batches', undefined, { 'x-api-key': 'wrong' });
    expect([denied.status, denied.json()]).toEqual([401, { type: 'error', error: { type: 'authentication_error', message: expect.any(String) }, request_id: expect.stringMatching(/^req_/) }]);
  });

  it('creates an inline batch: in_progress with every request processing, then ended with an absolute results_url', async () => {
    const created = (await call('POST', '/v1/messages/batches', { requests: [request('a'), request('b')] })).json() as unknown as Batch;
    expect(created).toMatchObject({ id: expect.stringMatching(/^msgbatch_/), type: 'message_batch', processing_status: 'in_progress', request_counts: { processing: 2, succeeded: 0 }, results_url: null });
    const done = await ended(created.id);
    expect(done.request_counts).toEqual({ processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 });
    expect(done.results_url).toBe(`${emu.baseURL}/v1/messages/batches/${created.id}/results`);
    const lines = await results(done);
    expect(lines.map((l) => l.custom_id).sort()).toEqual(['a', 'b']);
    expect(lines[0]!.result).toMatchObject({ type: 'succeeded', message: { type: 'message', role: 'assistant', model: MODEL, content: [{ type: 'text', text: 'positive' }], stop_reason: 'end_turn' } });
  });

  it('validates a create (custom_id pattern and uniqueness, max_tokens, model, request count) with 400 invalid_request_error', async () => {
    const cases = [
      { requests: [] },
      { requests: [request('a b')] },
      { requests: [request('x'), request('x')] },
      { requests: [request('m', { max_tokens: 0 })] },
      { requests: [request('s', { stream: true })] },
    ];
    for (const body of cases) {
      const res = await call('POST', '/v1/messages/batches', body);
      expect([res.status, (res.json()['error'] as { type: string }).type], JSON.stringify(body)).toEqual([400, 'invalid_request_error']);
    }
    expect((await call('POST', '/v1/messages/batches', { requests: [request('g', { model: 'gpt-x' })] })).status).toBe(404);
  });

  it('reads a create streamed in small pieces (one request in memory at a time) and runs every request', async () => {
    const text = JSON.stringify({ requests: ['p1', 'p2', 'p3'].map((id) => request(id, { system: 'é — "quoted" ] } ,' })) });
    const bytes = Buffer.from(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 7) controller.enqueue(bytes.subarray(at, at + 7));
        controller.close();
      },
    });
    const res = await fetch(`${emu.baseURL}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    const done = await ended(((await res.json()) as Batch).id);
    expect(done.request_counts).toMatchObject({ succeeded: 3, errored: 0 });
    expect((await results(done)).map((l) => l.custom_id).sort()).toEqual(['p1', 'p2', 'p3']);
  });

  it('answers a create as a whole-body parse did: not JSON (even after a bad request) first, then the list, then the first bad request', async () => {
    const created = emu.stats().batchesCreated;
    const post = async (body: string) => {
      const res = await fetch(`${emu.baseURL}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body });
      return [res.status, ((await res.json()) as { error: { type: string; message: string } }).error] as const;
    };
    const good = JSON.stringify(request('g'));
    expect(await post(`{"requests":[${JSON.stringify(request('a b'))},${good}`)).toEqual([400, { type: 'invalid_request_error', message: 'The request body is not valid JSON' }]);
    expect(await post(`{"requests":[${good}]} trailing`)).toEqual([400, { type: 'invalid_request_error', message: 'The request body is not valid JSON' }]);
    expect(await post(`{"requests":[${JSON.stringify(request('a b'))},${good}]}`)).toEqual([400, { type: 'invalid_request_error', message: "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'" }]);
    expect(await post(`{"requests":[${good},${JSON.stringify(request('m', { max_tokens: 0 }))}]}`)).toEqual([400, { type: 'invalid_request_error', message: 'requests.1.params.max_tokens: Field required (an integer >= 1)' }]);
    expect(await post('{"requests":{"0":{}}}')).toEqual([400, { type: 'invalid_request_error', message: 'requests: Field required (a list of 1 to 100000 requests)' }]);
    // A repeated key keeps its last value, as JSON.parse does: the first list's bad request is forgotten.
    const res = await post(`{"requests":[${JSON.stringify(request('a b'))}],"requests":[${JSON.stringify(request('last'))}]}`);
    expect(res[0]).toBe(200);
    expect(emu.stats().batchesCreated - created).toBe(1);
  });

  it('runs only the last of a repeated requests list, as JSON.parse reads the body, even when both lists arrive in one chunk', async () => {
    const body = `{"requests":[${JSON.stringify(request('first'))}],"requests":[${JSON.stringify(request('last'))}]}`;
    const res = await fetch(`${emu.baseURL}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body });
    const done = await ended(((await res.json()) as Batch).id);
    expect(done.request_counts).toMatchObject({ succeeded: 1, errored: 0 });
    expect((await results(done)).map((l) => l.custom_id)).toEqual(['last']);
  });

  it('turns temperature into an errored result (validated per request, as version 2026-10-21 does), the others answered', async () => {
    const created = (await call('POST', '/v1/messages/batches', { requests: [request('ok'), request('hot', { temperature: 0 })] })).json() as unknown as Batch;
    const done = await ended(created.id);
    expect(done.request_counts).toMatchObject({ succeeded: 1, errored: 1 });
    const hot = (await results(done)).find((l) => l.custom_id === 'hot')!;
    expect(hot.result).toEqual({ type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'temperature: Extra inputs are not permitted' }, request_id: null } });
  });

  it('expires a batch (seeded fault): the requests that never ran come back as expired', async () => {
    emu.setFaults({ expireAfterLines: 1 });
    try {
      const created = (await call('POST', '/v1/messages/batches', { requests: [request('e1'), request('e2'), request('e3')] })).json() as unknown as Batch;
      const done = await ended(created.id);
      expect(done.request_counts).toEqual({ processing: 0, succeeded: 1, errored: 0, canceled: 0, expired: 2 });
      expect((await results(done)).map((l) => l.result.type).sort()).toEqual(['expired', 'expired', 'succeeded']);
    } finally {
      emu.setFaults(null);
    }
  });

  it('cancels: canceling with cancel_initiated_at, then ended with canceled results; results before the end are a 400', async () => {
    emu.setFaults({ slowTailLines: 2, slowTailMs: 60_000 });
    try {
      const created = (await call('POST', '/v1/messages/batches', { requests: [request('c1'), request('c2'), request('c3')] })).json() as unknown as Batch;
      expect((await call('GET', `/v1/messages/batches/${created.id}/results`)).status).toBe(400);
      const canceling = (await call('POST', `/v1/messages/batches/${created.id}/cancel`)).json() as unknown as Batch;
      expect(canceling.cancel_initiated_at).not.toBeNull();
      const done = await ended(created.id);
      expect(done.request_counts.canceled).toBeGreaterThanOrEqual(2);
      expect((await results(done)).filter((l) => l.result.type === 'canceled').length).toBe(done.request_counts.canceled);
    } finally {
      emu.setFaults(null);
    }
  });

  it('lists newest first with limit, after_id and before_id', async () => {
    const all = (await call('GET', '/v1/messages/batches?limit=100')).json() as { data: Batch[]; has_more: boolean };
    expect(all.data.length).toBeGreaterThanOrEqual(4);
    const first = (await call('GET', '/v1/messages/batches?limit=2')).json() as { data: Batch[]; has_more: boolean; last_id: string; first_id: string };
    expect([first.data.map((b) => b.id), first.has_more]).toEqual([all.data.slice(0, 2).map((b) => b.id), true]);
    const next = (await call('GET', `/v1/messages/batches?limit=2&after_id=${first.last_id}`)).json() as { data: Batch[] };
    expect(next.data.map((b) => b.id)).toEqual(all.data.slice(2, 4).map((b) => b.id));
    const back = (await call('GET', `/v1/messages/batches?limit=1&before_id=${next.data[0]!.id}`)).json() as { data: Batch[] };
    expect(back.data.map((b) => b.id)).toEqual([all.data[1]!.id]);
    expect((await call('GET', '/v1/messages/batches?limit=0')).status).toBe(400);
  });

  it('answers POST /v1/messages; refuses temperature with a 400 on version 2026-10-21 and takes it on 2023-06-01', async () => {
    const answer = await call('POST', '/v1/messages', request('m').params);
    expect(answer.json()).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'positive' }], usage: { service_tier: 'standard' } });
    const hot = await call('POST', '/v1/messages', { ...request('m').params, temperature: 0.5 });
    expect([hot.status, hot.json()['error']]).toEqual([400, { type: 'invalid_request_error', message: 'temperature: Extra inputs are not permitted' }]);
    expect((await call('POST', '/v1/messages', { ...request('m').params, temperature: 0.5 }, { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' })).status).toBe(200);
  });

  it("sends the seeded faults in Anthropic's error shape with Retry-After", async () => {
    emu.setFaults({ rate429: 1, retryAfterSeconds: 2, routes: ['POST /v1/messages'] });
    try {
      const limited = await call('POST', '/v1/messages', request('m').params);
      expect([limited.status, limited.headers.get('retry-after'), (limited.json()['error'] as { type: string }).type]).toEqual([429, '2', 'rate_limit_error']);
    } finally {
      emu.setFaults(null);
    }
  });
});

describe('the anthropic personality under its byte limit', () => {
  it('refuses a create body over maxBatchBytes with 413 request_too_large, creating nothing', async () => {
    const emu = await startEmulator({ provider: 'anthropic', apiKey: KEY, maxBatchBytes: 1_000 });
    try {
      const body = JSON.stringify({ requests: Array.from({ length: 20 }, (_, i) => request(`r${i}`)) });
      const res = await fetch(`${emu.baseURL}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body });
      expect([res.status, ((await res.json()) as { error: { type: string } }).error.type]).toEqual([413, 'request_too_large']);
      expect(emu.stats().batchesCreated).toBe(0);
    } finally {
      await emu.close();
    }
  });
});
