import { describe, expect, it } from 'vitest';
import { streamChat } from '../../src/realtime/stream-chat.js';
import type { RealtimeClient } from '../../src/realtime/run-realtime.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

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

  it('rejects out-of-range chat parameters with OPTION_INVALID', async () => {
    const { client } = fakeStreamingChat([]);
    const err = await catchError(async () => {
      for await (const _ of streamChat({ client, model: 'm', question: 'q', temperature: 5 }));
    });
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'temperature' });
  });
});
