import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { chunkWriter, type ChunkInfo } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { tempDir } from '../helpers/inputs.js';
import { fromArray } from '../helpers/streams.js';

// A request line of exactly `bytes` bytes including its newline (content padded with `fill`).
function lineOf(id: string, bytes: number, fill = 'x'): string {
  const base = JSON.stringify({ custom_id: id, body: '' });
  const fillBytes = Buffer.byteLength(fill);
  const free = bytes - 1 - Buffer.byteLength(base);
  if (free < 0 || free % fillBytes !== 0) throw new Error(`cannot build a ${bytes}-byte line with "${fill}"`);
  return JSON.stringify({ custom_id: id, body: fill.repeat(free / fillBytes) });
}

async function write(lines: unknown[], options: Record<string, unknown>) {
  const outDir = await tempDir();
  const writer = chunkWriter({ outDir, ...options });
  const events: ChunkInfo[] = [];
  writer.on('chunk', (c: ChunkInfo) => events.push(c));
  await pipeline(fromArray(lines), writer);
  return { outDir, chunks: await writer.chunks, events };
}

describe('chunkWriter', () => {
  it('rotates at maxRequests and names files part-00001.jsonl, …', async () => {
    const lines = Array.from({ length: 5 }, (_, i) => lineOf(`r${i + 1}`, 50));
    const { outDir, chunks, events } = await write(lines, { maxRequests: 2 });
    expect(chunks.map((c) => [c.path, c.requests, c.bytes, c.firstCustomId, c.lastCustomId])).toEqual([
      [join(outDir, 'part-00001.jsonl'), 2, 100, 'r1', 'r2'],
      [join(outDir, 'part-00002.jsonl'), 2, 100, 'r3', 'r4'],
      [join(outDir, 'part-00003.jsonl'), 1, 50, 'r5', 'r5'],
    ]);
    expect(events).toEqual(chunks);
    expect(await readdir(outDir)).toEqual(['part-00001.jsonl', 'part-00002.jsonl', 'part-00003.jsonl']);
    expect(await readFile(chunks[1]!.path, 'utf8')).toBe(`${lines[2]}\n${lines[3]}\n`);
  });

  it('fills a file to exactly maxBytes and starts a new one when a line is one byte over', async () => {
    const exact = await write([lineOf('a', 60), lineOf('b', 40), lineOf('c', 40)], { maxBytes: 100 });
    expect(exact.chunks.map((c) => [c.requests, c.bytes])).toEqual([
      [2, 100],
      [1, 40],
    ]);
    const over = await write([lineOf('a', 60), lineOf('b', 41)], { maxBytes: 100 });
    expect(over.chunks.map((c) => [c.requests, c.bytes])).toEqual([
      [1, 60],
      [1, 41],
    ]);
  });

  it('counts bytes as UTF-8 (multi-byte characters), newline included', async () => {
    // "é" is 2 bytes, "😀" is 4 (2 UTF-16 units): the lines hold fewer characters than bytes.
    const a = lineOf('a', 50, 'é');
    const b = lineOf('b', 52, '😀');
    expect(a.length).toBeLessThan(49);
    const { chunks } = await write([a, b, lineOf('c', 49)], { maxBytes: 102 });
    expect(chunks.map((c) => [c.requests, c.bytes])).toEqual([
      [2, 102],
      [1, 49],
    ]);
    const written = await readFile(chunks[0]!.path);
    expect(written.length).toBe(102);
    const over = await write([a, lineOf('b', 56, '😀')], { maxBytes: 105 });
    expect(over.chunks.map((c) => c.bytes)).toEqual([50, 56]);
  });

  it('accepts strings with or without newline, Buffers and BatchRequestLine objects', async () => {
    const object = { custom_id: 'o', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } };
    const { chunks } = await write([`${lineOf('s', 30)}\n`, Buffer.from(lineOf('b', 30)), object], {});
    expect(chunks).toHaveLength(1);
    const text = await readFile(chunks[0]!.path, 'utf8');
    expect(text.split('\n')).toEqual([lineOf('s', 30), lineOf('b', 30), JSON.stringify(object), '']);
    expect(chunks[0]!.bytes).toBe(Buffer.byteLength(text));
  });

  it('accepts a line exactly maxBytes long and refuses one byte more with LINE_TOO_LARGE naming its custom_id', async () => {
    const ok = await write([lineOf('fits', 80)], { maxBytes: 80 });
    expect(ok.chunks[0]!.bytes).toBe(80);
    const outDir = await tempDir();
    const writer = chunkWriter({ outDir, maxBytes: 80 });
    const err = await catchError(() => pipeline(fromArray([lineOf('small', 40), lineOf('huge', 81)]), writer));
    expectKbatchError(err, { code: 'LINE_TOO_LARGE', customId: 'huge', message: '"huge"' });
    await expect(writer.chunks).rejects.toBe(err);
    // The unfinished chunk is not left behind as a complete-looking file.
    expect(await readdir(outDir)).toEqual([]);
  });

  it('writes no file for no input', async () => {
    const { outDir, chunks } = await write([], {});
    expect(chunks).toEqual([]);
    expect(await readdir(outDir)).toEqual([]);
  });

  it('refuses a directory holding chunk files from an earlier run unless overwrite', async () => {
    const outDir = await tempDir();
    await writeFile(join(outDir, 'part-00007.jsonl'), 'old\n');
    await writeFile(join(outDir, 'notes.txt'), 'keep\n');
    const err = await catchError(() => pipeline(fromArray([lineOf('a', 30)]), chunkWriter({ outDir })));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'outDir', message: 'part-00007.jsonl' });
    await pipeline(fromArray([lineOf('a', 30)]), chunkWriter({ outDir, overwrite: true }));
    expect((await readdir(outDir)).sort()).toEqual(['notes.txt', 'part-00001.jsonl']);
  });

  it.each([
    [{ maxRequests: 0 }, 'maxRequests', 'positive integer'],
    [{ maxBytes: -1 }, 'maxBytes', 'got -1'],
    [{ maxBytes: '6 parsecs' }, 'maxBytes', 'like 6GB'],
    [{ prefix: 'a/b' }, 'prefix', 'letters'],
  ])('validates %j with OPTION_INVALID', async (bad, field, message) => {
    const err = await catchError(() => chunkWriter({ outDir: '/tmp', ...bad } as never));
    expectKbatchError(err, { code: 'OPTION_INVALID', field, message });
  });

  it('takes sizes with units for maxBytes', async () => {
    const { chunks } = await write([lineOf('a', 600), lineOf('b', 500)], { maxBytes: '1KiB' });
    expect(chunks.map((c) => c.bytes)).toEqual([600, 500]);
  });
});
