import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type { RunEvent } from '@kbatch/core';
import { realtimeProgress } from '../../src/progress/realtime-progress.js';

type RealtimeRunEvent = Extract<RunEvent, { type: 'realtime' }>;

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, lines: () => text.trimEnd().split('\n') };
}

const limit = (n: number, done: number): RealtimeRunEvent => ({ type: 'realtime', event: { type: 'concurrency', limit: n }, done, failed: 0, total: 100 });

describe('realtimeProgress', () => {
  it('says the limit went back up when it rises, and blames 429s only when it falls', () => {
    const out = capture();
    const report = realtimeProgress(out.stream, 'plain');
    for (const [n, done] of [[8, 10], [4, 11], [5, 40], [6, 60]] as const) report(limit(n, done));
    expect(out.lines()).toEqual([
      'realtime: concurrency now 8 (adapting to 429s)',
      'realtime: concurrency now 4 (adapting to 429s)',
      'realtime: concurrency back up to 5',
      'realtime: concurrency back up to 6',
    ]);
  });

  it('starts over in a new realtime round (its limit starts again from the maximum)', () => {
    const out = capture();
    const report = realtimeProgress(out.stream, 'plain');
    report(limit(2, 90));
    report(limit(8, 3));
    expect(out.lines()).toEqual(['realtime: concurrency now 2 (adapting to 429s)', 'realtime: concurrency now 8 (adapting to 429s)']);
  });
});
