import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customIdOf, customIdOfBytes, LineBreaker, readFileLines } from '../../src/job/lines.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-lines-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// What readFileLines gave when it was built on node:readline: its semantics are the contract.
async function viaReadline(path: string): Promise<Array<{ line: number; text: string }>> {
  const out: Array<{ line: number; text: string }> = [];
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    line++;
    if (text.trim() !== '') out.push({ line, text });
  }
  return out;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('readFileLines', () => {
  const cases: Record<string, string> = {
    'LF lines with a last line without newline': '{"a":1}\n{"b":2}\n{"c":3}',
    'CRLF lines': '{"a":1}\r\n{"b":2}\r\n',
    'lone CR breaks': 'one\rtwo\r\nthree\r',
    'blank and whitespace-only lines (numbered, not yielded)': '\n  \n\t\n{"x":1}\n\r\n \u00a0\n{"y":2}\n\n',
    'multibyte text': '{"t":"café 日本語 😀"}\n{"t":"naïve"}\n',
    'leading spaces kept': '  {"a":1}\n',
    'empty file': '',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(`numbers and yields lines as node:readline did: ${name}`, async () => {
      const path = join(dir, `${name.replace(/\W+/g, '-')}.jsonl`);
      await writeFile(path, text);
      expect(await collect(readFileLines(path))).toEqual(await viaReadline(path));
    });
  }

  it('numbers but neither decodes nor yields the lines `skip` passes over', async () => {
    const path = join(dir, 'skip.jsonl');
    await writeFile(path, '{"custom_id":"a"}\n\n{"custom_id":"b"}\r\n{"custom_id":"c"}');
    const skip = (buf: Buffer, start: number, end: number) => customIdOfBytes(buf, start, end) === 'b';
    expect(await collect(readFileLines(path, skip))).toEqual([
      { line: 1, text: '{"custom_id":"a"}' },
      { line: 4, text: '{"custom_id":"c"}' },
    ]);
  });

  it('joins lines split across reads, including a CRLF split between two blocks', () => {
    const text = 'ab\r\ncd\ref\n\u00e9\u00e8\r';
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const breaker = new LineBreaker();
      const got = [...breaker.push(bytes.subarray(0, cut)), ...breaker.push(bytes.subarray(cut)), ...breaker.end()];
      expect(got, `cut at ${cut}`).toEqual([
        { line: 1, text: 'ab' },
        { line: 2, text: 'cd' },
        { line: 3, text: 'ef' },
        { line: 4, text: 'éè' },
      ]);
    }
  });

  it('reads a file larger than one read block', async () => {
    const path = join(dir, 'large.jsonl');
    const lines = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ custom_id: `r-${i}`, pad: 'x'.repeat(i % 97) }));
    await writeFile(path, lines.join('\r\n'));
    const got = await collect(readFileLines(path));
    expect(got.length).toBe(lines.length);
    expect(got.every((item, i) => item.line === i + 1 && item.text === lines[i])).toBe(true);
  });

  it('rejects with ENOENT for a missing file', async () => {
    await expect(collect(readFileLines(join(dir, 'missing.jsonl')))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('customIdOf', () => {
  it('reads the id kbatch writes first without parsing the body', () => {
    expect(customIdOf('{"custom_id":"row-1","method":"POST","body":{"x":"{\\"custom_id\\":\\"no\\"}"}}')).toBe('row-1');
    expect(customIdOf('{"custom_id":"only"}')).toBe('only');
  });

  it('parses lines kbatch did not write: other key order, spaces, escaped ids', () => {
    expect(customIdOf('{"id":"r1","custom_id":"row-2","response":null}')).toBe('row-2');
    expect(customIdOf('{ "custom_id": "row-3" }')).toBe('row-3');
    expect(customIdOf('{"custom_id":"a\\"b","x":1}')).toBe('a"b');
    expect(customIdOf('{"custom_id":"caf\\u00e9","x":1}')).toBe('café');
  });

  it('gives null for a line that is not JSON, has no custom_id or a non-string one', () => {
    expect(customIdOf('{"custom_id":"cut')).toBeNull();
    expect(customIdOf('not json')).toBeNull();
    expect(customIdOf('{"x":1}')).toBeNull();
    expect(customIdOf('{"custom_id":7}')).toBeNull();
    expect(customIdOf('null')).toBeNull();
  });
});

describe('customIdOfBytes', () => {
  const of = (text: string) => customIdOfBytes(Buffer.from(`x${text}y`), 1, 1 + Buffer.byteLength(text));

  it('reads the id of a line kbatch wrote, as customIdOf does', () => {
    for (const text of ['{"custom_id":"row-1","method":"POST","body":{"x":1}}', '{"custom_id":"only"}', '{"custom_id":"café 😀","x":1}']) {
      expect(of(text)).toBe(customIdOf(text));
    }
  });

  it('leaves any other line to customIdOf (undefined)', () => {
    for (const text of ['{"id":"r1","custom_id":"row-2"}', '{ "custom_id": "row-3" }', '{"custom_id":"a\\"b","x":1}', '{"custom_id":"cut', '{"custom_id":7}', '{"custom_id":"a\tb"}']) {
      expect(of(text)).toBeUndefined();
    }
  });
});
