import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type { JobEvent } from '@kbatch/core';
import { createProgressReporter, formatDuration } from '../../src/progress/index.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

const progress = (completed: number, failed = 0): JobEvent => ({
  type: 'progress',
  jobId: 'kb-1',
  elapsedMs: 12_000,
  total: 10,
  completed,
  failed,
  parts: [
    { index: '00001', batchId: 'b1', status: 'completed', total: 5, completed: 5, failed: 0 },
    { index: '00002', batchId: 'b2', status: 'in_progress', total: 5, completed: completed - 5, failed },
  ],
});

describe('createProgressReporter', () => {
  it('prints one plain line per event when not on a TTY', () => {
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'auto', isTTY: false });
    r.onEvent({ type: 'created', part: '00001', batchId: 'b1', adopted: true });
    r.onEvent(progress(7, 1));
    r.done();
    expect(out.text()).toBe(
      'part 00001: batch b1 adopted (created before a crash)\n' +
        'progress: 7/10 completed, 1 failed | batches: 1 completed, 1 in_progress | elapsed 12s\n',
    );
  });

  it("names the part of a batch cancelled for its stragglers", () => {
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'plain', isTTY: false });
    r.onEvent({ type: 'stragglers', part: '00002', batchId: 'b2', remaining: 3, total: 200, idleMs: 60_000, message: 'batch b2: 3 stragglers of 200 left' });
    expect(out.text()).toBe('part 00002: batch b2: 3 stragglers of 200 left\n');
  });

  it('prints why a batch failed validation, per code, with its first line errors', () => {
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'plain', isTTY: false });
    const lineErrors = [1, 2, 3, 4].map((line) => ({ line, customId: `r${line}`, code: 'model_not_found', message: `Line ${line}: no such model` }));
    r.onEvent({ type: 'finished', part: '00001', batchId: 'b1', status: 'failed', succeeded: 0, failed: 4, unresolved: 0, causes: [{ code: 'model_not_found', message: 'Line 1: no such model', requests: 4 }], lineErrors });
    expect(out.text()).toBe(
      'part 00001: failed — model_not_found: Line 1: no such model (4 requests)\n' +
        '  line 1 (custom_id r1): model_not_found\n  line 2 (custom_id r2): model_not_found\n  line 3 (custom_id r3): model_not_found\n',
    );
  });

  it('draws a live bar on a TTY with ETA once there is a rate', () => {
    const out = capture();
    let t = 0;
    const r = createProgressReporter({ stream: out.stream, mode: 'auto', isTTY: true, now: () => t });
    r.onEvent(progress(6));
    t = 1000;
    r.onEvent(progress(8));
    r.done();
    expect(out.text()).toContain('\r\x1b[2K');
    expect(out.text()).toMatch(/█+░+ 80% 8\/10 \| 1 completed, 1 in_progress \| 12s ETA 1s\n$/);
  });

  it('writes JSON lines with --progress json and nothing with none', () => {
    const out = capture();
    createProgressReporter({ stream: out.stream, mode: 'json' }).onEvent(progress(6));
    expect(JSON.parse(out.text())).toMatchObject({ type: 'progress', completed: 6 });
    const quiet = capture();
    createProgressReporter({ stream: quiet.stream, mode: 'none' }).onEvent(progress(6));
    expect(quiet.text()).toBe('');
  });
});

describe('formatDuration', () => {
  it('formats seconds, minutes and hours', () => {
    expect([formatDuration(1_400), formatDuration(185_000), formatDuration(3_720_000)]).toEqual(['1s', '3m05s', '1h02m']);
  });

  it('prints log lines above a live bar and redraws the bar below them', () => {
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'bar', isTTY: true });
    r.onEvent(progress(10));
    r.log('joining results onto the input records');
    r.done();
    const text = out.text();
    const bar = /█+ 100% 10\/10[^\n\r]*/;
    // the bar is cleared, the message gets its own line, then the bar comes back and is ended by done()
    expect(text).toMatch(new RegExp(`${bar.source}\\r\\x1b\\[2Kjoining results onto the input records\\n${bar.source}\\n$`));
  });

  it('logs plain lines when there is no bar', () => {
    const out = capture();
    createProgressReporter({ stream: out.stream, mode: 'none' }).log('warning: x');
    expect(out.text()).toBe('warning: x\n');
  });
});
