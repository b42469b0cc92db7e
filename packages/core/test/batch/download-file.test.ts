import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadFile } from '../../src/batch/download-file.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

function fakeFiles(bodies: string[]) {
  let n = 0;
  return {
    calls: () => n,
    content: async () => new Response(bodies[Math.min(n++, bodies.length - 1)]),
  };
}

describe('downloadFile', () => {
  it('streams to the destination, counting lines and ending with a newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const dest = join(dir, 'out.jsonl');
    const result = await downloadFile(fakeFiles(['{"a":1}\n{"a":2}']) as never, 'f1', dest, { expectedLines: 2 });
    expect(result.lines).toBe(2);
    expect(await readFile(dest, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
  });

  it('retries a short download', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const files = fakeFiles(['{"a":1}\n', '{"a":1}\n{"a":2}\n']);
    const result = await downloadFile(files as never, 'f1', join(dir, 'o.jsonl'), { expectedLines: 2, retryBaseMs: 1 });
    expect(result.lines).toBe(2);
    expect(files.calls()).toBe(2);
  });

  it('gives up on a download that stays short with DOWNLOAD_INCOMPLETE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const err = await catchError(() =>
      downloadFile(fakeFiles(['{"a":1}\n']) as never, 'f1', join(dir, 'o.jsonl'), { expectedLines: 3, retryBaseMs: 1, maxAttempts: 2 }),
    );
    expectKbatchError(err, { code: 'DOWNLOAD_INCOMPLETE', fileId: 'f1' });
  });

  it('hands each counted line to the inspector of the attempt that made the file, without its line break', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const files = fakeFiles(['{"a":1}\n', '{"a":1}\r\n\n  \n{"a":2}']);
    const seen: Array<Array<[string, number]>> = [];
    const result = await downloadFile(files as never, 'f1', join(dir, 'o.jsonl'), {
      expectedLines: 2,
      retryBaseMs: 1,
      inspect: () => {
        const lines: Array<[string, number]> = [];
        seen.push(lines);
        return (line, lineNo) => lines.push([line.toString(), lineNo]);
      },
    });
    expect(result.lines).toBe(2);
    expect(seen).toEqual([[['{"a":1}', 1]], [['{"a":1}', 1], ['{"a":2}', 4]]]);
  });

  it('hands the inspector a line that arrives in many pieces whole, and the line after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const long = `{"a":"${'x'.repeat(300_000)}"}`;
    const pieces = [...Array(300).keys()].map((i) => long.slice(i * 1000, (i + 1) * 1000));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of [...pieces, long.slice(300_000), '\n{"b":1}\n']) c.enqueue(new TextEncoder().encode(p));
        c.close();
      },
    });
    const lines: string[] = [];
    const files = { content: async () => new Response(body) };
    const result = await downloadFile(files as never, 'f1', join(dir, 'o.jsonl'), {
      expectedLines: 2,
      inspect: () => (line) => lines.push(line.toString()),
    });
    expect(result.lines).toBe(2);
    expect(lines).toEqual([long, '{"b":1}']);
  });

  it('gives the inspector each line\'s byte offset in the file, across pieces, CRs and blank lines', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const text = '{"a":"\u00e9"}\r\n\n  \n{"b":2}\n{"c":"' + 'z'.repeat(5000) + '"}\n{"d":4}';
    const bytes = Buffer.from(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        // Pieces cut mid-line and mid-character.
        for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.subarray(i, i + 7));
        c.close();
      },
    });
    const dest = join(dir, 'o.jsonl');
    const seen: Array<[string, number]> = [];
    await downloadFile({ content: async () => new Response(body) } as never, 'f1', dest, {
      expectedLines: 4,
      inspect: () => (line, _n, offset) => seen.push([line.toString(), offset]),
    });
    const file = await readFile(dest);
    expect(seen.map(([line, offset]) => file.toString('utf8', offset, offset + Buffer.byteLength(line)))).toEqual(seen.map(([line]) => line));
    // 10 bytes + CRLF, a blank line, a line of blanks; 8; 6 + 5000 + 3.
    expect(seen.map(([, offset]) => offset)).toEqual([0, 16, 24, 5033]);
  });

  it('writes a file of many small reads byte for byte (joined into larger writes), its last line given a newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-dl-'));
    const lines = [...Array(40_000).keys()].map((i) => `{"custom_id":"r${i}","t":"é🌍${'y'.repeat(i % 97)}"}`);
    const text = lines.join('\n');
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        // Reads of odd sizes that split lines and multi-byte characters.
        for (let at = 0; at < bytes.length; at += 7_919) c.enqueue(bytes.slice(at, at + 7_919));
        c.close();
      },
    });
    const dest = join(dir, 'o.jsonl');
    const result = await downloadFile({ content: async () => new Response(body) } as never, 'f1', dest, { expectedLines: lines.length });
    expect(bytes.length).toBeGreaterThan(3 << 20);
    expect(result).toMatchObject({ lines: lines.length, bytes: bytes.length });
    expect(await readFile(dest, 'utf8')).toBe(`${text}\n`);
  });
});
