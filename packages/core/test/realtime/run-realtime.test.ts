import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runRealtime } from '../../src/realtime/run-realtime.js';
import type { RealtimeEvent, RealtimeResultLine } from '../../src/realtime/realtime-types.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { dropped, fakeChat, httpError, requestLine } from './fake-chat.js';
import { watchAbortListeners } from '../helpers/listeners.js';

const collect = async (lines: AsyncIterable<RealtimeResultLine>) => {
  const out: RealtimeResultLine[] = [];
  for await (const line of lines) out.push(line);
  return out;
};
const content = (line: RealtimeResultLine) =>
  (line.response?.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
const fast = { retryBaseMs: 1, retryMaxMs: 5 };

describe('runRealtime', () => {
  it('answers every request in input order, whatever the completion order', async () => {
    const { client, state } = fakeChat((q) => (q === 'q0' ? 30 : Number(q.slice(1)) % 3));
    const lines = await collect(runRealtime({ requests: Array.from({ length: 20 }, (_, i) => requestLine(i)), client, concurrency: 5 }));
    expect(lines.map((l) => l.custom_id)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(lines[3]).toMatchObject({ custom_id: '3', error: null, response: { status_code: 200 } });
    expect(content(lines[3]!)).toBe('a:q3');
    expect(state.maxInFlight).toBeLessThanOrEqual(5);
    expect(state.options[0]).toMatchObject({ maxRetries: 0 });
  });

  it('takes a 2xx answer without a body (null) as the answer, without sending the request again', async () => {
    let calls = 0;
    const client = { create: async () => (calls++, null) };
    const [line] = await collect(runRealtime({ requests: [requestLine(0)], client: client as never, retries: 3, tpm: 100_000, ...fast }));
    expect(calls).toBe(1);
    expect(line).toMatchObject({ custom_id: '0', error: null, response: { status_code: 200, body: null } });
  });

  it("has Node report a client that keeps a listener per request on the run's signal (the run's limit is its window, not none)", async () => {
    const { client } = fakeChat();
    // Says it releases its listeners (so it is handed the run's own signal), but keeps each, as the openai client does.
    Object.assign(client, { releasesSignal: true });
    const watch = watchAbortListeners(new AbortController().signal);
    const lines = await collect(runRealtime({ requests: Array.from({ length: 60 }, (_, i) => requestLine(i)), client, concurrency: 4, window: 8 }));
    expect(lines).toHaveLength(60);
    expect((await watch.stop()).warnings).toEqual([expect.stringContaining('abort listeners added to [AbortSignal]')]);
  });

  it("lets a run at a wide window keep a listener per request in flight on its signal without Node warning (a client that releases its own)", async () => {
    let inFlight = 0;
    let peak = 0;
    const client = {
      releasesSignal: true,
      async create(body: { messages: { content: string }[] }, options: { signal: AbortSignal }) {
        const onAbort = (): void => {};
        options.signal.addEventListener('abort', onAbort, { once: true });
        peak = Math.max(peak, ++inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: body.messages.at(-1)!.content } }] };
        } finally {
          inFlight--;
          options.signal.removeEventListener('abort', onAbort);
        }
      },
    };
    const watch = watchAbortListeners(new AbortController().signal);
    const lines = await collect(runRealtime({ requests: Array.from({ length: 200 }, (_, i) => requestLine(i)), client: client as never, concurrency: 32 }));
    expect(lines).toHaveLength(200);
    expect(peak).toBeGreaterThan(10);
    expect((await watch.stop()).warnings).toEqual([]);
  });

  it('emits results as they complete with unordered', async () => {
    const { client } = fakeChat((q) => (q === 'q0' ? 40 : 0));
    const lines = await collect(runRealtime({ requests: [0, 1, 2].map((i) => requestLine(i)), client, concurrency: 3, unordered: true }));
    expect(lines.map((l) => l.custom_id).at(-1)).toBe('0');
    expect(lines.map((l) => l.custom_id).sort()).toEqual(['0', '1', '2']);
  });

  it('pauses intake while a slow head-of-line request fills the window', async () => {
    let pulled = 0;
    async function* requests() {
      for (let i = 0; i < 50; i++) {
        pulled++;
        yield requestLine(i);
      }
    }
    let release!: () => void;
    const headDone = new Promise<void>((r) => (release = r));
    const { client } = fakeChat((q) => (q === 'q0' ? 10_000 : 0));
    const controller = new AbortController();
    const seen: number[] = [];
    const run = collect(runRealtime({ requests: requests(), client, concurrency: 4, window: 8, signal: controller.signal, onEvent: (e) => e.type === 'answered' && seen.push(1) && seen.length === 7 && release() }));
    await headDone;
    await new Promise((r) => setTimeout(r, 20));
    expect(pulled).toBeLessThanOrEqual(9);
    controller.abort();
    expectKbatchError(await catchError(() => run), { code: 'ABORTED' });
  });

  it('retries 429, 5xx and dropped connections, then answers', async () => {
    const failures = [httpError(429, { 'retry-after-ms': '1' }), httpError(503), dropped()];
    const { client, state } = fakeChat((q, call) => {
      if (q === 'q0' && call <= 3) throw failures[call - 1];
    });
    const events: RealtimeEvent[] = [];
    const lines = await collect(runRealtime({ requests: [requestLine(0)], client, retries: 3, ...fast, onEvent: (e) => events.push(e) }));
    expect(content(lines[0]!)).toBe('a:q0');
    expect(state.calls).toBe(4);
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { kind: string }).kind)).toEqual(['rate_limited', 'server_error', 'connection_error']);
  });

  it('yields final failures as error lines: HTTP status with error body, or error without response', async () => {
    const { client, state } = fakeChat((q) => {
      if (q === 'bad') throw httpError(400);
      if (q === 'down') throw dropped();
    });
    const lines = await collect(runRealtime({ requests: [requestLine('x', 'bad'), requestLine('y', 'down'), requestLine('z', 'ok')], client, retries: 2, ...fast }));
    expect(lines[0]).toMatchObject({ custom_id: 'x', error: null, response: { status_code: 400, body: { error: { message: 'status 400' } } } });
    expect(lines[1]).toMatchObject({ custom_id: 'y', response: null, error: { code: 'connection_error', message: 'socket hang up' } });
    expect(lines[2]).toMatchObject({ custom_id: 'z', response: { status_code: 200 } });
    expect(state.calls).toBe(1 + 3 + 1); // 400 is final at once; the drop is tried 1 + 2 retries
  });

  it('lowers the effective concurrency after a 429 burst', async () => {
    const { client } = fakeChat((q, call) => {
      if (call <= 4) throw httpError(429, { 'retry-after-ms': '1' });
    });
    const events: RealtimeEvent[] = [];
    await collect(runRealtime({ requests: Array.from({ length: 8 }, (_, i) => requestLine(i)), client, concurrency: 8, ...fast, onEvent: (e) => events.push(e) }));
    expect(events.find((e) => e.type === 'concurrency')).toEqual({ type: 'concurrency', limit: 4 });
  });

  it('sends due retries before new requests once the adaptive limit is lowered (new requests stay unread)', async () => {
    // The first four are told to come back in 10 ms, which halves the limit to 2; two new requests take the free slots.
    const { client, state } = fakeChat((_q, call) => {
      if (call <= 4) throw httpError(429, { 'retry-after-ms': '10' });
      return 100;
    });
    const events: RealtimeEvent[] = [];
    const lines = await collect(runRealtime({ requests: Array.from({ length: 10 }, (_, i) => requestLine(i)), client, concurrency: 4, ...fast, onEvent: (e) => events.push(e) }));
    expect(lines.every((l) => l.response?.status_code === 200)).toBe(true);
    expect(events.find((e) => e.type === 'concurrency')).toEqual({ type: 'concurrency', limit: 2 });
    expect(state.questions.slice(4, 6)).toEqual(['q4', 'q5']);
    expect(state.questions.slice(6, 10).sort()).toEqual(['q0', 'q1', 'q2', 'q3']); // not q6, q7 first
    expect(state.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('takes no new request while most recent outcomes are dropped connections: the requests backing off count against the concurrency', async () => {
    // Every connection drops (the server is down): a new request would only add attempts, so intake waits.
    const { client } = fakeChat(() => {
      throw dropped();
    });
    const open = new Set<string>();
    let peak = 0;
    const onEvent = (e: RealtimeEvent) => {
      if (e.type === 'retry') open.add(e.customId);
      if (e.type === 'failed') open.delete(e.customId);
      peak = Math.max(peak, open.size);
    };
    const lines = await collect(runRealtime({ requests: Array.from({ length: 60 }, (_, i) => requestLine(i)), client, concurrency: 4, retries: 4, ...fast, onEvent }));
    expect(lines.map((l) => l.error?.code)).toEqual(Array(60).fill('connection_error'));
    expect(peak).toBeLessThanOrEqual(16); // a few join before the drops are a majority (of at least 16 outcomes); not all 60
  });

  it('does not hold a concurrency slot while a request waits out its Retry-After: the others go on', async () => {
    // q0 is told to come back in a minute; with one slot, every other request is answered meanwhile.
    const { client, state } = fakeChat((q, call) => {
      if (q === 'q0' && call === 1) throw httpError(429, { 'retry-after-ms': '60000' });
    });
    const controller = new AbortController();
    const answered: string[] = [];
    const onEvent = (e: RealtimeEvent) => {
      if (e.type === 'answered') answered.push(e.customId);
      if (answered.length === 9) controller.abort();
    };
    const run = collect(runRealtime({ requests: Array.from({ length: 10 }, (_, i) => requestLine(i)), client, concurrency: 1, unordered: true, signal: controller.signal, onEvent }));
    expectKbatchError(await catchError(() => run), { code: 'ABORTED' });
    expect(answered.sort()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(state.questions.filter((q) => q === 'q0')).toHaveLength(1); // still waiting for its retry
    expect(state.maxInFlight).toBe(1);
  });

  it('keeps its concurrency through a 429 now and then (one call in 20), answering everything', async () => {
    const { client, state } = fakeChat((_q, call) => {
      if (call % 20 === 0) throw httpError(429, { 'retry-after-ms': '1' });
    });
    const events: RealtimeEvent[] = [];
    const lines = await collect(runRealtime({ requests: Array.from({ length: 200 }, (_, i) => requestLine(i)), client, concurrency: 8, ...fast, onEvent: (e) => events.push(e) }));
    expect(lines.every((l) => l.response?.status_code === 200)).toBe(true);
    expect(events.filter((e) => e.type === 'retry').length).toBeGreaterThan(5);
    expect(events.filter((e) => e.type === 'concurrency')).toEqual([]);
    expect(state.maxInFlight).toBeLessThanOrEqual(8);
  });

  it('resumes from the answers log: answered ids are replayed in order, not resent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-rt-'));
    try {
      const answersLog = join(dir, 'answers.jsonl');
      const first = fakeChat((q) => {
        if (q === 'q1' || q === 'q3') throw httpError(400);
      });
      const requests = () => [0, 1, 2, 3, 4].map((i) => requestLine(i));
      await collect(runRealtime({ requests: requests(), client: first.client, answersLog }));
      const logged = (await readFile(answersLog, 'utf8')).trim().split('\n').map((t) => JSON.parse(t) as { custom_id: string; failed?: boolean });
      expect(logged.filter((e) => e.failed).map((e) => e.custom_id).sort()).toEqual(['1', '3']); // final failures are logged as markers
      const second = fakeChat();
      const events: RealtimeEvent[] = [];
      const lines = await collect(runRealtime({ requests: requests(), client: second.client, answersLog, onEvent: (e) => events.push(e) }));
      expect(second.state.calls).toBe(0); // successes and final failures are both final in the same round
      expect(lines.map((l) => [l.custom_id, l.response?.status_code])).toEqual([0, 1, 2, 3, 4].map((i) => [String(i), i === 1 || i === 3 ? 400 : 200]));
      expect(lines.filter((l) => l.response?.status_code === 200).map(content)).toEqual(['a:q0', 'a:q2', 'a:q4']);
      expect(events.filter((e) => e.type === 'failed')).toEqual([
        { type: 'failed', customId: '1', kind: 'client_error', status: 400, replayed: true },
        { type: 'failed', customId: '3', kind: 'client_error', status: 400, replayed: true },
      ]);
      // A new round (its own log) sends them again.
      const third = fakeChat();
      await collect(runRealtime({ requests: requests(), client: third.client, answersLog: join(dir, 'round-2.jsonl') }));
      expect(third.state.calls).toBe(5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects with ABORTED when the signal aborts', async () => {
    const { client } = fakeChat(() => 10_000);
    const controller = new AbortController();
    const run = collect(runRealtime({ requests: [requestLine(0)], client, signal: controller.signal }));
    setTimeout(() => controller.abort(), 10);
    expectKbatchError(await catchError(() => run), { code: 'ABORTED' });
  });

  it('rejects a line that is not a chat request with LINE_INVALID', async () => {
    const { client } = fakeChat();
    const err = await catchError(() => collect(runRealtime({ requests: [{ nope: 1 } as never], client })));
    expectKbatchError(err, { code: 'LINE_INVALID', record: 1 });
  });

  it('validates options with OPTION_INVALID', async () => {
    const { client } = fakeChat();
    expectKbatchError(await catchError(() => runRealtime({ requests: [], client, concurrency: 0 })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `concurrency`: must be a positive integer, got 0',
    });
    expectKbatchError(await catchError(() => runRealtime({ requests: [], client: {} as never })), { code: 'OPTION_INVALID', field: 'client' });
  });
});
