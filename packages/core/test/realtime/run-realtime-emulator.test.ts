import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '@kbatch/emulator';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAnsweredIds } from '../../src/state/answers-log.js';
import { realtimeClientFor, type RealtimeTransport } from '../../src/realtime/fast-client.js';
import { runRealtime, type RunRealtimeOptions } from '../../src/realtime/run-realtime.js';
import type { RealtimeEvent, RealtimeResultLine } from '../../src/realtime/realtime-types.js';
import type { BatchRequestLine } from '../../src/request/request-line.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { watchAbortListeners } from '../helpers/listeners.js';

// Integration over real HTTP: limits and retries are measured on the emulator side.
type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const CHAT = 'POST /v1/chat/completions';
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

const lines = (n: number, prefix = 'r'): BatchRequestLine[] =>
  Array.from({ length: n }, (_, i) => ({
    custom_id: `${prefix}${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: `question ${i}` }] },
  }));

/** Run through `realtimeClientFor` with the given transport (`direct`: createDirectChat; `sdk`: the openai client as is). */
async function collect(options: Omit<RunRealtimeOptions, 'client'>, emu: Emulator, transport: RealtimeTransport): Promise<RealtimeResultLine[]> {
  const openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL });
  const { client, transport: used, close } = realtimeClientFor(openai, { connections: options.concurrency ?? 16, transport });
  expect(used).toBe(transport);
  const out: RealtimeResultLine[] = [];
  try {
    for await (const line of runRealtime({ retryBaseMs: 5, retryMaxMs: 50, ...options, client })) out.push(line);
  } finally {
    await close();
  }
  return out;
}
const chatAttempts = (emu: Emulator) => emu.stats().requests[CHAT] ?? 0;

/** An emulator responder that counts how many times each question was answered (a retry must not answer twice). */
function countingResponder() {
  const asked = new Map<string, number>();
  const responder = (body: { messages: { content: unknown }[] }) => {
    const question = String(body.messages.at(-1)!.content);
    asked.set(question, (asked.get(question) ?? 0) + 1);
    return 'ok';
  };
  return { asked, responder };
}

describe.each(['direct', 'sdk'] as const)('runRealtime against the emulator (%s transport)', (transport) => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ seed: 7 });
  });
  afterAll(async () => {
    await emu.close();
  });

  it('keeps in-flight requests within the concurrency (emulator maxConcurrentChat) and restores input order', async () => {
    const local = await startEmulator({ seed: 1, faults: { latencyMs: 15, routes: [CHAT] } });
    try {
      const out = await collect({ requests: lines(40), concurrency: 5 }, local, transport);
      expect(out.map((l) => l.custom_id)).toEqual(lines(40).map((l) => l.custom_id));
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(local.stats().maxConcurrentChat).toBeLessThanOrEqual(5);
      expect(local.stats().maxConcurrentChat).toBeGreaterThan(1);
      expect(chatAttempts(local)).toBe(40);
    } finally {
      await local.close();
    }
  });

  it("answers 300 requests, some retried after a 429, without abort listeners growing on the caller's signal or the run's (Node warns of none)", async () => {
    emu.setFaults({ rate429: 0.2, retryAfterSeconds: 0, routes: [CHAT] });
    try {
      const caller = new AbortController();
      const watch = watchAbortListeners(caller.signal);
      // A small window bounds the run's own listeners, so a leak of one per request would pass Node's limit.
      // Enough retries that no request runs out of them on a 20% draw (6 in a row: ~2% of runs at 5 retries).
      const out = await collect({ requests: lines(300), concurrency: 4, window: 8, retries: 30, signal: caller.signal }, emu, transport);
      expect(out.filter((l) => l.response?.status_code === 200)).toHaveLength(300);
      expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
    } finally {
      emu.setFaults(null);
    }
  });

  it('spaces requests by the rpm limit (emulator-side arrival times)', async () => {
    const arrivals: number[] = [];
    const local = await startEmulator({
      responder: () => {
        arrivals.push(performance.now());
        return 'ok';
      },
    });
    try {
      await collect({ requests: lines(8), concurrency: 8, rpm: 1200 }, local, transport); // one per 50 ms
      expect(arrivals).toHaveLength(8);
      // A lower bound only: the limiter can make requests slower, never faster than 7 × 50 ms.
      expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(7 * 50 * 0.8);
    } finally {
      await local.close();
    }
  });

  it('rides out a 429 storm, lowering its concurrency, and answers everything', async () => {
    emu.setFaults({ rate429: 0.5, retryAfterSeconds: 0, routes: [CHAT] });
    try {
      const events: RealtimeEvent[] = [];
      const before = chatAttempts(emu);
      const out = await collect({ requests: lines(30), concurrency: 8, retries: 20, onEvent: (e) => events.push(e) }, emu, transport);
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(chatAttempts(emu) - before).toBeGreaterThan(30);
      const limits = events.filter((e) => e.type === 'concurrency').map((e) => (e as { limit: number }).limit);
      expect(Math.min(...limits)).toBeLessThan(8);
    } finally {
      emu.setFaults(null);
    }
  });

  it('halves its concurrency when the server answers half its requests 429 with a Retry-After, never exceeding the concurrency', async () => {
    const local = await startEmulator({ seed: 23, faults: { rate429: 0.5, retryAfterSeconds: 0.05, latencyMs: 2, routes: [CHAT] } });
    try {
      const limits: number[] = [];
      const out = await collect({ requests: lines(40), concurrency: 8, retries: 30, onEvent: (e) => e.type === 'concurrency' && limits.push(e.limit) }, local, transport);
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(limits[0]).toBe(4);
      expect(local.stats().maxConcurrentChat).toBeLessThanOrEqual(8);
    } finally {
      await local.close();
    }
  });

  it('adapts to a server concurrency cap that answers 429', async () => {
    emu.setFaults({ concurrencyCap: 3, latencyMs: 10, retryAfterSeconds: 0, routes: [CHAT] });
    try {
      const events: RealtimeEvent[] = [];
      const out = await collect({ requests: lines(30), concurrency: 12, retries: 30, adaptiveCooldownMs: 10_000, onEvent: (e) => events.push(e) }, emu, transport);
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(events.some((e) => e.type === 'concurrency' && e.limit <= 6)).toBe(true);
    } finally {
      emu.setFaults(null);
    }
  });

  it('retries dropped connections and 5xx until answered', async () => {
    emu.setFaults({ dropRate: 0.2, rate5xx: 0.2, routes: [CHAT] });
    try {
      const events: RealtimeEvent[] = [];
      const out = await collect({ requests: lines(30), concurrency: 4, retries: 20, onEvent: (e) => events.push(e) }, emu, transport);
      expect(out.map((l) => l.response?.status_code)).toEqual(Array(30).fill(200));
      const kinds = new Set(events.filter((e) => e.type === 'retry').map((e) => (e as { kind: string }).kind));
      expect(kinds).toEqual(new Set(['connection_error', 'server_error']));
    } finally {
      emu.setFaults(null);
    }
  });

  it('releases the slot while a 429 waits out its Retry-After: the other requests go on, never more than the concurrency in flight', async () => {
    // Every attempt is answered 429 (Retry-After: 60 s) until two requests wait; if they held their slots, nothing else could go.
    const local = await startEmulator({ seed: 5, faults: { rate429: 1, retryAfterSeconds: 60, latencyMs: 5, routes: [CHAT] } });
    try {
      const controller = new AbortController();
      const waiting = new Set<string>();
      const answered = new Set<string>();
      const onEvent = (e: RealtimeEvent) => {
        if (e.type === 'retry' && waiting.add(e.customId).size === 2) local.setFaults({ rate429: 0 });
        if (e.type === 'answered') answered.add(e.customId);
        if (waiting.size + answered.size === 12) controller.abort();
      };
      const run = collect({ requests: lines(12), concurrency: 2, adaptive: false, unordered: true, signal: controller.signal, onEvent }, local, transport);
      expectKbatchError(await catchError(() => run), { code: 'ABORTED' });
      expect(waiting.size).toBeGreaterThanOrEqual(2);
      expect(answered.size).toBe(12 - waiting.size);
      expect([...answered].filter((id) => waiting.has(id))).toEqual([]); // the waiting ones are still waiting
      expect(chatAttempts(local)).toBe(12); // each request sent once so far
      expect(local.stats().maxConcurrentChat).toBeLessThanOrEqual(2);
    } finally {
      await local.close();
    }
  });

  it('retries dropped connections and 429s, answering every request exactly once (emulator-side count, answers log)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-drops-'));
    const { asked, responder } = countingResponder();
    const local = await startEmulator({ seed: 11, responder, faults: { dropRate: 0.2, rate429: 0.1, retryAfterSeconds: 0, latencyMs: 2, routes: [CHAT] } });
    try {
      const answersLog = join(dir, 'answers.jsonl');
      const kinds = new Set<string>();
      const out = await collect({ requests: lines(40), concurrency: 4, retries: 30, answersLog, onEvent: (e) => e.type === 'retry' && kinds.add(e.kind) }, local, transport);
      expect(out.map((l) => l.custom_id)).toEqual(lines(40).map((l) => l.custom_id));
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(kinds).toEqual(new Set(['connection_error', 'rate_limited']));
      expect(asked.size).toBe(40);
      expect([...asked.values()].every((n) => n === 1)).toBe(true); // no request answered twice
      expect((await loadAnsweredIds(answersLog)).size).toBe(40);
      expect((await readFile(answersLog, 'utf8')).trim().split('\n')).toHaveLength(40);
      expect(local.stats().maxConcurrentChat).toBeLessThanOrEqual(4);
    } finally {
      await local.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('yields the final failure after the retries are spent, with status and error body', async () => {
    emu.setFaults({ rate5xx: 1, routes: [CHAT] });
    try {
      const before = chatAttempts(emu);
      const [line] = await collect({ requests: lines(1), retries: 2 }, emu, transport);
      expect(line).toMatchObject({ custom_id: 'r0', error: null, response: { body: { error: { message: expect.any(String) } } } });
      expect([500, 502, 503]).toContain(line!.response!.status_code);
      expect(chatAttempts(emu) - before).toBe(3);
    } finally {
      emu.setFaults(null);
    }
  });

  it('emits results as they complete with unordered (not in input order)', async () => {
    // The first request is held back until every other one has been answered over HTTP, so it completes last.
    const openai = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL });
    const n = 8;
    let othersDone = 0;
    let releaseFirst!: () => void;
    const firstMayGo = new Promise<void>((resolve) => (releaseFirst = resolve));
    const client = {
      async create(body: { messages: { content: string }[] }, options: unknown) {
        const first = body.messages[0]!.content === 'question 0';
        if (first) await firstMayGo;
        try {
          return await openai.chat.completions.create(body as never, options as never);
        } finally {
          if (!first && ++othersDone === n - 1) releaseFirst();
        }
      },
    };
    const out: RealtimeResultLine[] = [];
    for await (const line of runRealtime({ requests: lines(n), client: client as never, concurrency: n, unordered: true })) out.push(line);
    const ids = out.map((l) => l.custom_id);
    const input = lines(n).map((l) => l.custom_id);
    expect(ids).not.toEqual(input);
    expect(ids.at(-1)).toBe('r0');
    expect([...ids].sort()).toEqual([...input].sort());
    expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
  });

  it('honours Retry-After from a 429 over HTTP (waits at least the given second before retrying)', async () => {
    const local = await startEmulator({ seed: 3, faults: { rate429: 1, retryAfterSeconds: 1, routes: [CHAT] } });
    try {
      const retries: { at: number; delayMs: number }[] = [];
      let answeredAt = 0;
      const onEvent = (e: RealtimeEvent) => {
        if (e.type === 'retry') {
          retries.push({ at: Date.now(), delayMs: e.delayMs });
          local.setFaults(null); // the retry goes through
        }
        if (e.type === 'answered') answeredAt = Date.now();
      };
      const [line] = await collect({ requests: lines(1), retries: 2, retryBaseMs: 1, retryMaxMs: 2, onEvent }, local, transport);
      expect(line!.response?.status_code).toBe(200);
      expect(chatAttempts(local)).toBe(2);
      expect(retries).toHaveLength(1);
      expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(1000);
      expect(answeredAt - retries[0]!.at).toBeGreaterThanOrEqual(950); // a lower bound only
    } finally {
      await local.close();
    }
  });

  it("waits out each 429's Retry-After and little more: the jitter is at most a tenth of it", async () => {
    const local = await startEmulator({ seed: 13, faults: { rate429: 0.3, retryAfterSeconds: 0.2, latencyMs: 2, routes: [CHAT] } });
    try {
      const retryAt = new Map<string, number[]>();
      const waits: { delayMs: number; waitedMs: number }[] = [];
      const onEvent = (e: RealtimeEvent) => {
        if (e.type === 'retry') retryAt.set(e.customId, [Date.now(), e.delayMs]);
        if (e.type === 'answered' && retryAt.has(e.customId)) {
          const [at, delayMs] = retryAt.get(e.customId)!;
          waits.push({ delayMs: delayMs!, waitedMs: Date.now() - at! });
        }
      };
      // The default backoff base (500 ms): before, a Retry-After got up to that much on top.
      const out = await collect({ requests: lines(24), concurrency: 4, retries: 20, retryBaseMs: 500, retryMaxMs: 30_000, onEvent }, local, transport);
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(waits.length).toBeGreaterThan(0);
      for (const { delayMs, waitedMs } of waits) {
        expect(delayMs).toBeGreaterThanOrEqual(200);
        expect(delayMs).toBeLessThanOrEqual(220);
        expect(waitedMs).toBeGreaterThanOrEqual(195); // a lower bound only (the answer comes after the wait)
      }
    } finally {
      await local.close();
    }
  });

  it('retries a dropped connection at once and answers each request exactly once, never more than the concurrency in flight', async () => {
    const { asked, responder } = countingResponder();
    // 10% drops are sporadic (under the 20% that makes them frequent in the run, when they all back off).
    const local = await startEmulator({ seed: 17, responder, faults: { dropRate: 0.1, latencyMs: 2, routes: [CHAT] } });
    try {
      const drops = new Map<string, number[]>();
      const onEvent = (e: RealtimeEvent) => {
        if (e.type === 'retry' && e.kind === 'connection_error') drops.set(e.customId, [...(drops.get(e.customId) ?? []), e.delayMs]);
      };
      const out = await collect({ requests: lines(32), concurrency: 4, retries: 20, retryBaseMs: 500, retryMaxMs: 30_000, onEvent }, local, transport);
      expect(out.map((l) => l.custom_id)).toEqual(lines(32).map((l) => l.custom_id));
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(drops.size).toBeGreaterThan(0);
      for (const [first] of drops.values()) expect(first).toBeLessThan(50); // not the 500 ms backoff base
      expect(asked.size).toBe(32);
      expect([...asked.values()].every((n) => n === 1)).toBe(true);
      expect(chatAttempts(local)).toBe(32 + [...drops.values()].flat().length);
      expect(local.stats().maxConcurrentChat).toBeLessThanOrEqual(4);
    } finally {
      await local.close();
    }
  });

  it('retries a request whose answer was lost after the server processed it: the server answers it twice (it may be paid twice), the output has it once', async () => {
    const { asked, responder } = countingResponder();
    const local = await startEmulator({ seed: 37, responder, faults: { loseResponseRate: 0.2, latencyMs: 2, routes: [CHAT] } });
    try {
      const kinds = new Set<string>();
      const out = await collect({ requests: lines(20), concurrency: 4, retries: 20, onEvent: (e) => e.type === 'retry' && kinds.add(e.kind) }, local, transport);
      expect(kinds).toEqual(new Set(['connection_error']));
      expect(out.map((l) => l.custom_id)).toEqual(lines(20).map((l) => l.custom_id));
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(asked.size).toBe(20);
      // Known and accepted (the OpenAI SDK does the same): a lost answer cannot be told from a request never received.
      expect([...asked.values()].some((n) => n > 1)).toBe(true);
    } finally {
      await local.close();
    }
  });

  it('backs off even the first drop of a request once the server drops every connection', async () => {
    const local = await startEmulator({ seed: 29, faults: { dropRate: 1, latencyMs: 2, routes: [CHAT] } });
    try {
      let drops = 0;
      const firstDrops: number[] = []; // the delays of requests' first drops once 16 drops were seen (drops are then frequent)
      const onEvent = (e: RealtimeEvent) => {
        if (e.type === 'retry' && e.attempt === 1 && drops >= 16) firstDrops.push(e.delayMs);
        if (e.type === 'retry' || e.type === 'failed') drops++;
      };
      // Up to ~12 requests start before the drops are a majority; the other 20 start after 16 drops.
      const out = await collect({ requests: lines(32), concurrency: 4, retries: 3, retryBaseMs: 20, retryMaxMs: 100, onEvent }, local, transport);
      expect(out.map((l) => l.error?.code)).toEqual(Array(32).fill('connection_error'));
      expect(chatAttempts(local)).toBe(32 * 4);
      expect(firstDrops.length).toBeGreaterThan(8);
      // A prompt retry waits under min(base, 50) = 20 ms; backing off by the run's drops, most wait longer (up to 100).
      expect(firstDrops.filter((d) => d >= 20).length).toBeGreaterThan(firstDrops.length / 3);
      expect(firstDrops.every((d) => d < 100)).toBe(true);
    } finally {
      await local.close();
    }
  });

  it('backs off on top of a "retry-after: 0" instead of retrying at once', async () => {
    const local = await startEmulator({ seed: 31, faults: { rate429: 1, retryAfterSeconds: 0, latencyMs: 2, routes: [CHAT] } });
    try {
      const delays: number[] = [];
      const onEvent = (e: RealtimeEvent) => e.type === 'retry' && delays.push(e.delayMs);
      const out = await collect({ requests: lines(8), concurrency: 4, retries: 3, retryBaseMs: 20, retryMaxMs: 200, onEvent }, local, transport);
      expect(out.every((l) => l.response?.status_code === 429)).toBe(true);
      expect(delays).toHaveLength(8 * 3);
      // Before, a Retry-After of 0 had a jitter of at most a tenth of 0: every delay was 0.
      expect(delays.filter((d) => d > 0).length).toBeGreaterThan(delays.length / 2);
      expect(delays.every((d) => d < 80)).toBe(true); // the 3rd retry's backoff ceiling: 20 × 2^2
    } finally {
      await local.close();
    }
  });

  it('answers every request once, in order, under 5% 429s and 3% dropped connections, never more than the concurrency in flight', async () => {
    const { asked, responder } = countingResponder();
    const local = await startEmulator({ seed: 19, responder, faults: { rate429: 0.05, retryAfterSeconds: 0.05, dropRate: 0.03, latencyMs: 2, routes: [CHAT] } });
    try {
      const kinds = new Set<string>();
      const out = await collect({ requests: lines(400), concurrency: 8, retries: 20, onEvent: (e) => e.type === 'retry' && kinds.add(e.kind) }, local, transport);
      expect(out.map((l) => l.custom_id)).toEqual(lines(400).map((l) => l.custom_id));
      expect(out.every((l) => l.response?.status_code === 200)).toBe(true);
      expect(kinds).toEqual(new Set(['connection_error', 'rate_limited']));
      expect(asked.size).toBe(400);
      expect([...asked.values()].every((n) => n === 1)).toBe(true);
      expect(local.stats().maxConcurrentChat).toBeLessThanOrEqual(8);
    } finally {
      await local.close();
    }
  });

  it('rejects with ABORTED when the signal aborts with requests in flight, and the next run still works', async () => {
    const local = await startEmulator({ faults: { latencyMs: 5_000, routes: [CHAT] } });
    try {
      const controller = new AbortController();
      const sent = new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (local.stats().maxConcurrentChat >= 4) resolve(clearInterval(timer));
        }, 5);
      });
      const run = collect({ requests: lines(8), concurrency: 4, signal: controller.signal }, local, transport);
      await sent;
      controller.abort();
      expectKbatchError(await catchError(() => run), { code: 'ABORTED' });
      local.setFaults(null);
      const out = await collect({ requests: lines(3), concurrency: 4 }, local, transport);
      expect(out.map((l) => l.response?.status_code)).toEqual([200, 200, 200]);
    } finally {
      await local.close();
    }
  });

  it('resumes after the process is killed: the rerun sends only unanswered requests', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-resume-'));
    const local = await startEmulator({ faults: { latencyMs: 40, routes: [CHAT] } });
    try {
      const answersLog = join(dir, 'answers.jsonl');
      const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/realtime-child.mjs', import.meta.url)), local.baseURL, answersLog, '40'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      let printed = 0;
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          printed += chunk.toString().split('\n').length - 1;
          if (printed >= 6) resolve();
        });
      });
      child.kill('SIGKILL');
      await exited;
      const answered = await loadAnsweredIds(answersLog);
      expect(answered.size).toBeGreaterThanOrEqual(6);
      expect(answered.size).toBeLessThan(40);
      const sentBefore = chatAttempts(local);
      const out = await collect({ requests: lines(40), concurrency: 4, answersLog }, local, transport);
      expect(chatAttempts(local) - sentBefore).toBe(40 - answered.size);
      expect(out.map((l) => l.custom_id)).toEqual(lines(40).map((l) => l.custom_id));
      expect((await readFile(answersLog, 'utf8')).trim().split('\n')).toHaveLength(40);
    } finally {
      await local.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
