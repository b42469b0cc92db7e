import { describe, expect, it } from 'vitest';
import { PassThrough, Writable } from 'node:stream';
import type { JobEvent } from '@kbatch/core';
import { createProgressReporter, formatDuration, type ReporterEvent } from '../../src/progress/index.js';
import { isCjkLocale } from '../../src/progress/progress-reporter.js';

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
    expect(out.text()).toMatch(/█+░+ 80% 8\/10 \| 12s ETA 1s \| 1 completed, 1 in_progress\n$/);
  });

  it('draws the bar in ASCII on a CJK locale, where block glyphs are two cells wide, fitting the width', () => {
    expect([{ LANG: 'ja_JP.UTF-8' }, { LC_ALL: 'zh_CN.UTF-8', LANG: 'C' }, { LC_CTYPE: 'ko_KR' }].map(isCjkLocale)).toEqual([true, true, true]);
    expect([{ LANG: 'en_US.UTF-8' }, { LC_ALL: 'C', LANG: 'ja_JP.UTF-8' }, {}, { LANG: 'jam' }].map(isCjkLocale)).toEqual([false, false, false, false]);
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'bar', ascii: true, columns: 40, now: () => 0 });
    r.onEvent(progress(8));
    r.done();
    const line = out.text().replace('\r\x1b[2K', '').replace(/\n$/, '');
    expect(line).toMatch(/^#+-* 80% 8\/10/);
    expect(/^[\x20-\x7e]*$/.test(line)).toBe(true);
    expect(line.length).toBeLessThan(40);
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

  it('keeps the last bar as a line when a phase starts, and does not redraw it below the phase line', () => {
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'bar', isTTY: true });
    r.onEvent(progress(10));
    r.onEvent({ type: 'phase', phase: 'join', message: 'joining results onto the input records' });
    r.done();
    expect(out.text()).toMatch(/█+ 100% 10\/10[^\n\r]*\njoining results onto the input records\n$/);
  });

  it('logs plain lines when there is no bar', () => {
    const out = capture();
    createProgressReporter({ stream: out.stream, mode: 'none' }).log('warning: x');
    expect(out.text()).toBe('warning: x\n');
  });
});

/** A fake terminal of `columns` cells: wraps long lines as a terminal does, honours \r, \n and ESC[2K (clear line). */
function fakeTerminal(columns: number) {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let raw = '';
  const put = (text: string) => {
    raw += text;
    const chars = [...text.replaceAll('\x1b[2K', '\u0000')];
    for (const ch of chars) {
      if (ch === '\u0000') rows[row] = [];
      else if (ch === '\r') col = 0;
      else if (ch === '\n') {
        row++;
        col = 0;
        rows[row] ??= [];
      } else {
        if (col >= columns) {
          row++;
          col = 0;
          rows[row] ??= [];
        }
        rows[row]![col++] = ch;
      }
    }
  };
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      put(chunk.toString('utf8'));
      cb();
    },
  });
  Object.assign(stream, { isTTY: true, columns });
  return { stream, screen: () => rows.map((r) => r.join('')).filter((r) => r !== ''), raw: () => raw };
}

const roundEvent = (round: number, completed: number, extra: Partial<Extract<ReporterEvent, { type: 'progress' }>> = {}): ReporterEvent => ({
  type: 'progress',
  jobId: 'kb-1',
  elapsedMs: 2_000,
  total: 300,
  completed,
  failed: 0,
  round,
  parts: [{ index: '00004', batchId: 'b4', status: 'in_progress', total: 300, completed, failed: 0 }],
  ...extra,
});

describe('createProgressReporter during retry rounds', () => {
  it("shows a round's own progress, never past its total, with elapsed counted from the start, and the round's line once", () => {
    const out = capture();
    let t = 0;
    const r = createProgressReporter({ stream: out.stream, mode: 'plain', now: () => t });
    r.onEvent(progress(10));
    t = 90_000;
    r.onEvent({ type: 'retry-round', round: 1, requests: 300, parts: 1, via: 'batch' });
    r.onEvent({ type: 'phase', phase: 'retry', message: 'retry round 1: 300 requests', round: 1 });
    r.onEvent(roundEvent(1, 120));
    r.onEvent(roundEvent(1, 9603, { total: 3201 }));
    expect(out.text().split('\n').slice(1, -1)).toEqual([
      'retry round 1: 300 requests in 1 batch',
      'retry round 1: 120/300 completed, 0 failed | batches: 1 in_progress | elapsed 1m30s',
      'retry round 1: 3201/3201 completed, 0 failed | batches: 1 in_progress | elapsed 1m30s',
    ]);
  });

  it('prints the line of a round a resume continues (no retry-round event announced it)', () => {
    const out = capture();
    const r = createProgressReporter({ stream: out.stream, mode: 'plain' });
    r.onEvent({ type: 'phase', phase: 'retry', message: 'retry round 2: 40 requests', round: 2 });
    expect(out.text()).toBe('retry round 2: 40 requests\n');
  });

  it('draws a round on the bar as "retry round N:" and at most 100%', () => {
    const term = fakeTerminal(80);
    const r = createProgressReporter({ stream: term.stream, mode: 'auto' });
    r.onEvent(roundEvent(1, 450));
    r.done();
    expect(term.screen()).toHaveLength(1);
    expect(term.screen()[0]).toMatch(/^retry round 1: █+ 100% 300\/300 \| /);
  });
});

describe('createProgressReporter on a narrow terminal', () => {
  const manyParts = (completed: number): ReporterEvent => ({
    type: 'progress',
    jobId: 'kb-1',
    elapsedMs: 65_000,
    total: 3201,
    completed,
    failed: 12,
    parts: ['completed', 'in_progress', 'validating', 'finalizing', 'expired', 'uploaded', 'pending'].map((status, i) => ({
      index: String(i + 1).padStart(5, '0'),
      status,
      total: 500,
      completed: 0,
      failed: 0,
    })),
  });

  it.each([80, 40])('keeps the bar within %i columns: redraws leave no line behind, and nothing is drawn after the summary', (columns) => {
    const term = fakeTerminal(columns);
    let t = 0;
    const r = createProgressReporter({ stream: term.stream, mode: 'auto', now: () => t });
    for (let i = 1; i <= 5; i++) {
      t += 1_000;
      r.onEvent(manyParts(i * 500));
      if (i === 3) r.log('part 00002: batch b2 created');
    }
    r.done();
    term.stream.write('records 3201: 3201 succeeded\n');
    const before = term.raw();
    r.onEvent(manyParts(3201));
    expect(term.raw()).toBe(before);
    const screen = term.screen();
    // The log line, the final bar (ended by done()) and the summary: no stale bar rows, no wrapped bar.
    expect(screen).toHaveLength(3);
    expect(screen[0]).toBe('part 00002: batch b2 created');
    expect(screen[1]).toMatch(/^█+░* \d+% 2500\/3201/);
    expect([...screen[1]!].length).toBeLessThan(columns);
    expect(screen[2]).toBe('records 3201: 3201 succeeded');
    for (const raw of term.raw().split(/[\r\n]/)) expect([...raw.replaceAll('\x1b[2K', '')].length).toBeLessThanOrEqual(columns);
  });
});
