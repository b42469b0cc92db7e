import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { realtimeStream } from '../../src/realtime/realtime-stream.js';
import type { RealtimeResultLine } from '../../src/realtime/realtime-types.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { fakeChat, requestLine } from './fake-chat.js';

describe('realtimeStream', () => {
  it('turns request lines into ordered result lines in a pipeline', async () => {
    const { client } = fakeChat((q) => (q === 'q0' ? 20 : 0));
    const out: RealtimeResultLine[] = [];
    await pipeline(
      Readable.from([0, 1, 2, 3].map((i) => requestLine(i))),
      realtimeStream({ client, concurrency: 2 }),
      async function* (lines: AsyncIterable<RealtimeResultLine>) {
        for await (const line of lines) out.push(line);
      },
    );
    expect(out.map((l) => l.custom_id)).toEqual(['0', '1', '2', '3']);
  });

  it('validates its options at construction with OPTION_INVALID', async () => {
    const { client } = fakeChat();
    expectKbatchError(await catchError(() => realtimeStream({ client, rpm: -1 })), { code: 'OPTION_INVALID', field: 'rpm' });
  });
});
