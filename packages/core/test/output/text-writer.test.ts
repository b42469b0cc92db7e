import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { textWriter } from '../../src/output/text-writer.js';

describe('textWriter', () => {
  it('writes many small texts and some larger than a block, in order, reusing its blocks for its own file', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'kbatch-text-')), 'out.txt');
    const out = textWriter(createWriteStream(file), { end: true, reuse: true });
    let expected = '';
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 5000; i++) {
        const text = i === 2500 ? `${'é'.repeat(400_000)}\n` : `row ${batch}-${i} ünï 😀\n`;
        out.put(text);
        expected += text;
      }
      await out.flush();
    }
    await out.end();
    expect(await readFile(file, 'utf8')).toBe(expected);
  });

  it("throws the sink's error at the next flush, and leaves a sink it does not own open", async () => {
    const failing = new Writable({ write: (_chunk, _enc, callback) => callback(new Error('disk full')) });
    const out = textWriter(failing, { end: false, reuse: false });
    out.put('a\n');
    await out.flush().catch(() => {});
    await new Promise((r) => setImmediate(r));
    await expect(out.flush()).rejects.toThrow('disk full');
    const kept = new Writable({ write: (_chunk, _enc, callback) => callback() });
    const quiet = textWriter(kept, { end: false, reuse: false });
    quiet.put('x');
    await quiet.end();
    expect(kept.writableEnded).toBe(false);
  });

  it('does not wait for a drain that already happened between put and flush', async () => {
    const slow = new Writable({ write: (_chunk, _enc, callback) => setTimeout(callback, 50) });
    const out = textWriter(slow, { end: false, reuse: false });
    // A block (1,045 rows) goes to the sink and fills it; it drains before flush sends the last 5 rows (under 16 KiB).
    for (let i = 0; i < 1050; i++) out.put(`${'x'.repeat(1000)}\n`);
    await new Promise((r) => setTimeout(r, 300));
    const flushed = await Promise.race([out.flush().then(() => 'flushed'), new Promise((r) => setTimeout(() => r('hung'), 3000))]);
    expect(flushed).toBe('flushed');
  });

  it('paces without sending a block until it is full, and waits for the drain the sink asked for', async () => {
    const writes: number[] = [];
    let done: (() => void) | null = null;
    const held = new Writable({
      write: (chunk: Buffer, _enc, callback) => {
        writes.push(chunk.length);
        done = callback;
      },
    });
    const out = textWriter(held, { end: false, reuse: false });
    out.put('small\n');
    await out.pace();
    expect(writes).toEqual([]);
    // 1,100 rows of 1 KiB: the first full block goes to the sink, which asks for a drain until its write is done.
    for (let i = 0; i < 1100; i++) out.put(`${'x'.repeat(1023)}\n`);
    expect(writes).toHaveLength(1);
    const paced = out.pace().then(() => 'paced');
    expect(await Promise.race([paced, new Promise((r) => setTimeout(() => r('waiting'), 50))])).toBe('waiting');
    done!();
    expect(await paced).toBe('paced');
    const flushed = out.flush();
    expect(writes).toHaveLength(2);
    done!();
    await flushed;
    expect(writes.reduce((a, b) => a + b, 0)).toBe(6 + 1100 * 1024);
  });
});
