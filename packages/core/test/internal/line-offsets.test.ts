import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineWindow, lineReader, scanLines, type LinePlace } from '../../src/internal/line-offsets.js';

describe('scanLines', () => {
  it('finds each non-blank line with its byte offset and number, CR and leading blanks trimmed, a last line without newline', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'kbatch-lines-')), 'a.jsonl');
    await writeFile(file, 'one\r\n\n  two\nété\nlast');
    const seen: Array<[string, number, number]> = [];
    await scanLines(file, (buf, { start, end, offset, line }) => seen.push([buf.toString('utf8', start, end), offset, line]));
    expect(seen).toEqual([
      ['one', 0, 1],
      ['two', 8, 3],
      ['été', 12, 4],
      ['last', 18, 5],
    ]);
  });
});

describe('lineReader', () => {
  it('reads the same bytes whether lines are asked for in file order (read ahead) or out of order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-lines-'));
    const lines = Array.from({ length: 20_000 }, (_, i) => `{"custom_id":"r${i}","n":${i}}`);
    const file = join(dir, 'r.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const spans: Array<{ offset: number; length: number }> = [];
    await scanLines(file, (_buf, { start, end, offset }) => spans.push({ offset, length: end - start }));
    const reader = lineReader([file]);
    try {
      const inOrder = spans.map((s) => reader.read(0, s.offset, s.length).toString());
      expect(inOrder).toEqual(lines);
      const backwards = [...spans].reverse().map((s) => reader.read(0, s.offset, s.length).toString());
      expect(backwards).toEqual([...lines].reverse());
    } finally {
      reader.close();
    }
  });

  it('holds at most 32 MiB of lines in a window and reads the lines past it one by one, in any order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-window-'));
    const file = join(dir, 'long.jsonl');
    const lines = [...Array(40).keys()].map((i) => `${i}:${String.fromCharCode(97 + (i % 26)).repeat(1 << 20)}`);
    await writeFile(file, lines.join('\n') + '\n');
    const places = new Map<number, LinePlace>();
    let offset = 0;
    lines.forEach((l, i) => {
      places.set(i, { file: 0, offset, length: l.length });
      offset += l.length + 1;
    });
    const reader = lineReader([file]);
    const window = new LineWindow<number>(reader, (k) => places.get(k)!);
    const keys = [...places.keys()].reverse();
    window.fill(keys);
    try {
      for (const k of keys) expect(window.read(k).toString()).toBe(lines[k]);
    } finally {
      reader.close();
    }
  });
});
