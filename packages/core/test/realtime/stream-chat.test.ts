import { describe, expect, it } from 'vitest';
import { streamChat } from '../../src/realtime/stream-chat.js';
import type { RealtimeClient } from '../../src/realtime/run-realtime.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { watchAbortListeners } from '../helpers/listeners.js';
import { startEmulator } from '@kbatch/emulator';
import OpenAI from 'openai';

function fakeStreamingChat(pieces: string[]) {
  const bodies: Record<string, unknown>[] = [];
  const client = {
    async create(body: Record<string, unknown>) {
      bodies.push(body);
      return (async function* () {
        for (const content of pieces) yield { choices: [{ index: 0, delta: { content } }] };
        yield { choices: [] };
      })();
    },
  };
  return { client: client as unknown as RealtimeClient, bodies };
}

describe('streamChat', () => {
  it('yields the answer as it streams and sends only the given parameters', async () => {
    const { client, bodies } = fakeStreamingChat(['Buenos', ' Aires', '']);
    const out: string[] = [];
    for await (const text of streamChat({ client, model: 'm', question: 'Capital of Argentina?', system: 'Be brief', temperature: 0, stop: ['\n'] })) out.push(text);
    expect(out).toEqual(['Buenos', ' Aires']);
    expect(bodies[0]).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Capital of Argentina?' },
      ],
      stop: ['\n'],
      temperature: 0,
      stream: true,
    });
  });

  it("passes the request a signal that aborts with the caller's while the answer still streams", async () => {
    let seen: AbortSignal | undefined;
    const client = {
      async create(_body: unknown, options: { signal?: AbortSignal }) {
        seen = options.signal;
        return (async function* () {
          yield { choices: [{ index: 0, delta: { content: 'one' } }] };
          yield { choices: [{ index: 0, delta: { content: 'two' } }] };
        })();
      },
    } as unknown as RealtimeClient;
    const caller = new AbortController();
    for await (const _ of streamChat({ client, model: 'm', question: 'q', signal: caller.signal })) caller.abort(new Error('stop'));
    expect(seen).not.toBe(caller.signal);
    expect([seen?.aborted, (seen?.reason as Error).message]).toEqual([true, 'stop']);
  });

  it('rejects out-of-range chat parameters with OPTION_INVALID', async () => {
    const { client } = fakeStreamingChat([]);
    const err = await catchError(async () => {
      for await (const _ of streamChat({ client, model: 'm', question: 'q', temperature: 5 }));
    });
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'temperature' });
  });
});

describe('streamChat over HTTP', () => {
  it('asks 12 questions under one signal and leaves no abort listener on it', async () => {
    const emu = await startEmulator({ seed: 5 });
    try {
      const client = new OpenAI({ apiKey: 'test', baseURL: emu.baseURL }).chat.completions as unknown as RealtimeClient;
      const caller = new AbortController();
      const watch = watchAbortListeners(caller.signal);
      for (let i = 0; i < 12; i++) {
        let text = '';
        for await (const piece of streamChat({ client, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', question: `question ${i}?`, signal: caller.signal })) text += piece;
        expect(text.length).toBeGreaterThan(0);
      }
      expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
    } finally {
      await emu.close();
    }
  });
});
