import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { recordBatches, type RejectedRecord, type SourceRecord } from '../../src/index.js';
import { parseFlatJsonLine } from '../../src/records/flat-json-line.js';
import { byteStream } from '../helpers/inputs.js';

// Lines the fast path must read as JSON.parse does, or leave to it: usual ones, then every odd case it could get wrong.
const USUAL = ['{"id":"rec-1","text":"Review number 1: fine.","stars":4}', '{}', '{"a":true,"b":false,"c":null,"d":-0,"e":0,"f":-12,"g":""}', '{"id":"rec-2","stars":123456789012345}'];
const ODD = [
  '{"id":"a\\"b"}', '{"id":"tab\\there"}', '{"id":"\\u00e9"}', '{"id":"ünï"}', '{"id":"日本"}', '{"id":"😀"}', '{"k\\u0065y":1}',
  '{"b":1,"a":2}', '{"a":1,"a":2}', '{"a":1,"b":2,"a":3}', '{"__proto__":{"x":1}}', '{"__proto__":1}', '{"1":"x","a":"y"}', '{"a":"x","2":"y"}',
  '{"a":1.5}', '{"a":1e5}', '{"a":1E+2}', '{"a":-0.0}', '{"a":01}', '{"a":-}', '{"a":1234567890123456}', '{"a":9007199254740993}', '{"a":-}',
  '{"a":tru}', '{"a":true', '{"a":nul}', '{"a":falsey}', '{"a":[1,2]}', '{"a":{"b":1}}', '{"a": 1}', '{ "a":1}', '{"a":1 }', ' {"a":1}',
  '{"a":1}x', '{"a":1},', '{"a":1,}', '{,"a":1}', '{"a"1}', '{"a":"x}', '{"a":"x\u007f"}', '{"a":"x\u0001"}', '{"":1}', '[1]', '"x"', '1', 'null',
  '', '{', '}', '{"a":1}{"b":2}', '\ufeff{"a":1}', '{"a":"\u00a0"}', '{"a":"line\\nbreak"}', '{"a":"x","b":"x","c":"x","d":"x","e":"x"}',
];

/** JSON.parse's object for `line`, or the error it throws. */
function slow(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (err) {
    return err;
  }
}

describe('parseFlatJsonLine', () => {
  it('reads the usual flat lines, and every line it reads has the keys, order and values JSON.parse gives', () => {
    const keys: string[] = [];
    for (const line of [...USUAL, ...ODD, ...USUAL.slice().reverse()]) {
      const bytes = Buffer.from(`\n${line}\r\n`);
      const fast = parseFlatJsonLine(bytes, 1, bytes.length - 2, keys);
      if (USUAL.includes(line)) expect(fast, line).not.toBeNull();
      if (fast === null) continue;
      const expected = slow(line) as Record<string, unknown>;
      expect(Object.getPrototypeOf(fast)).toBe(Object.prototype);
      expect(Object.keys(fast), line).toEqual(Object.keys(expected));
      for (const key of Object.keys(expected)) expect(Object.is(fast[key], expected[key]), `${line} ${key}`).toBe(true);
    }
  });

  it('leaves escapes, non-ASCII, repeated or special keys, nesting, blanks, fractions and malformed lines to JSON.parse', () => {
    const read = ODD.filter((line) => parseFlatJsonLine(Buffer.from(line), 0, Buffer.byteLength(line), []) !== null);
    // Keys in another order are read (in their order, as JSON.parse keeps them): the first test holds them side by side.
    expect(read).toEqual(['{"b":1,"a":2}', '{"a":"x","b":"x","c":"x","d":"x","e":"x"}']);
  });
});

describe('JsonlRecordReader', () => {
  it('reads UTF-8 bytes in any chunking as it reads the same text (records, line numbers, rejects, CRLF, BOM, blank lines)', async () => {
    const lines = ['\ufeff{"id":"a","n":1}', ...USUAL, ...ODD, '   ', '{"id":"last","n":2}'];
    const text = `${lines.join('\n')}\r\n\n${lines.slice(1).join('\r\n')}`;
    const read = async (input: Readable): Promise<{ records: SourceRecord[]; rejects: RejectedRecord[] }> => {
      const records: SourceRecord[] = [];
      const rejects: RejectedRecord[] = [];
      for await (const batch of recordBatches({ input, format: 'jsonl', onInvalidRecord: 'skip', onReject: (r) => rejects.push(r) })) records.push(...batch);
      return { records, rejects };
    };
    // Text chunks (an object-mode stream hands strings on as they are) take the text path: the reference.
    const expected = await read(Readable.from([text], { objectMode: true }));
    expect(expected.records.at(-1)?.data).toEqual({ id: 'last', n: 2 });
    expect(expected.records.length).toBeGreaterThan(20);
    for (const size of [1, 2, 3, 7, 64, Infinity]) {
      const got = await read(byteStream(text, size));
      expect(got, `chunks of ${size}`).toEqual(expected);
      expect(got.records.map((r) => Object.keys(r.data))).toEqual(expected.records.map((r) => Object.keys(r.data)));
    }
  });

  it('decodes bytes after text chunks as text, so a character split between them stays whole', async () => {
    const records: SourceRecord[] = [];
    const rejects: RejectedRecord[] = [];
    // A caller's stream may hand on a string, then bytes: the decoder still holds the first byte of 日 after line 1.
    const input = Readable.from(['{"x":', Buffer.from([0x31, 0x7d, 0x0a, 0xe6]), Buffer.from([0x97, 0xa5, 0x0a])], { objectMode: true });
    for await (const batch of recordBatches({ input, format: 'jsonl', onInvalidRecord: 'skip', onReject: (r) => rejects.push(r) })) records.push(...batch);
    expect(records.map((r) => r.data)).toEqual([{ x: 1 }]);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.raw).toBe('日');
  });
});
