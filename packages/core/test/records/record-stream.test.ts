import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { Readable, Writable } from 'node:stream';
import { prepareRequests, recordBatches, recordStream, type RejectedRecord, type SourceRecord } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { byteStream, tempFile } from '../helpers/inputs.js';
import { collect } from '../helpers/streams.js';

async function read(text: string, options: Record<string, unknown> = {}, pieceSize?: number): Promise<SourceRecord[]> {
  return collect<SourceRecord>(recordStream({ input: byteStream(text, pieceSize), format: 'csv', ...options }));
}

// RFC 4180 cases; each is also checked against csv-parse (the reference parser) below.
const RFC_CASES: Record<string, string> = {
  simple: 'a,b\n1,2\n3,4\n',
  'no trailing newline': 'a,b\n1,2',
  crlf: 'a,b\r\n1,2\r\n3,4\r\n',
  'quoted comma': 'id,text\n1,"hello, world"\n',
  'escaped quotes': 'id,text\n1,"she said ""hi"""\n2,""""\n',
  'embedded newline': 'id,text\n1,"line one\nline two"\n2,x\n',
  'embedded crlf': 'id,text\r\n1,"a\r\nb"\r\n',
  'empty fields': 'a,b,c\n,,\n"",x,\n',
  'quoted header': '"a,1","b""2"\n1,2\n',
  'non-ASCII': 'id,text\n1,naïve café 日本語 😀\n2,"ünïcödé, quoted"\n',
  'leading zeros stay text': 'id,n\n007,0.50\n',
  'empty quoted last field': 'a,b\n1,""\n',
};

describe('recordStream', () => {
  for (const [name, text] of Object.entries(RFC_CASES)) {
    it(`reads RFC 4180 case "${name}" like csv-parse, whole and byte by byte`, async () => {
      const expected = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
      expect((await read(text)).map((r) => r.data)).toEqual(expected);
      expect((await read(text, {}, 1)).map((r) => r.data)).toEqual(expected);
    });
  }

  it('splits on a non-ASCII delimiter (UTF-8 or Latin-1), even when a chunk cuts it', async () => {
    for (const delimiter of ['§', 'é', '€']) {
      const text = `id${delimiter}text${delimiter}extra\n1${delimiter}"a${delimiter}b"${delimiter}\n2${delimiter}ã·ü${delimiter}x\n`;
      const expected = parse(text, { columns: true, delimiter }) as Record<string, string>[];
      expect(expected[0]).toEqual({ id: '1', text: `a${delimiter}b`, extra: '' });
      for (const piece of [undefined, 1, 2]) expect((await read(text, { delimiter }, piece)).map((r) => r.data)).toEqual(expected);
    }
    const latin1 = Buffer.from('id\xa7text\n1\xa7caf\xe9\n', 'latin1');
    const records = await collect<SourceRecord>(recordStream({ input: byteStream(latin1, 1), format: 'csv', delimiter: '§', encoding: 'latin1' }));
    expect(records.map((r) => r.data)).toEqual([{ id: '1', text: 'café' }]);
  });

  it('reads chunks that are plain Uint8Arrays, not Buffers', async () => {
    const bytes = Buffer.from('a,b\nhé,"x""y"\n');
    const input = Readable.from([new Uint8Array(bytes.subarray(0, 5)), new Uint8Array(bytes.subarray(5))]);
    const batches: SourceRecord[][] = [];
    for await (const batch of recordBatches({ input, format: 'csv' })) batches.push(batch);
    expect(batches.flat().map((r) => r.data)).toEqual([{ a: 'hé', b: 'x"y' }]);
    const latin1 = Readable.from([new Uint8Array(Buffer.from('a,b\nh\xe9,c\n', 'latin1'))]);
    const records = await collect<SourceRecord>(recordStream({ input: latin1, format: 'csv', encoding: 'latin1' }));
    expect(records.map((r) => r.data)).toEqual([{ a: 'hé', b: 'c' }]);
  });

  it('agrees with csv-parse on generated tricky CSV cut at random places', async () => {
    let seed = 7;
    // Math.imul: a float product loses its low bits past 2^53 and the sequence falls into a short cycle.
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const atoms = ['a', 'b c', ',', '""', '\n', '\r\n', 'é', '😀', ' ', 'x,y', '日本'];
    for (let round = 0; round < 30; round++) {
      const rows: string[] = ['h1,h2,h3'];
      for (let r = 0; r < 20; r++) {
        const fields: string[] = [];
        for (let f = 0; f < 3; f++) {
          let value = '';
          for (let k = (rnd() * 5) | 0; k > 0; k--) value += atoms[(rnd() * atoms.length) | 0];
          const plain = !/[",\r\n]/.test(value);
          fields.push(plain && rnd() < 0.5 ? value : `"${value.replaceAll('"', '""')}"`);
        }
        rows.push(fields.join(','));
      }
      const text = rows.join(rnd() < 0.5 ? '\n' : '\r\n') + (rnd() < 0.5 ? '\n' : '');
      // (csv-parse guesses one record delimiter from the first line end it meets, even inside quotes.)
      const expected = parse(text, { columns: true, skip_empty_lines: true, record_delimiter: ['\r\n', '\n'] }) as Record<string, string>[];
      const got = await read(text, {}, 1 + ((rnd() * 40) | 0));
      expect(got.map((r) => r.data)).toEqual(expected);
    }
  });

  it('numbers records from 1 and gives the physical line where each starts', async () => {
    const records = await read('id,text\n1,"two\nlines"\n2,x\n\n3,y\n');
    expect(records.map((r) => [r.index, r.line, r.data.id])).toEqual([
      [1, 2, '1'],
      [2, 4, '2'],
      [3, 6, '3'],
    ]);
  });

  it('drops a UTF-8 BOM and keeps values as written (no type guessing)', async () => {
    const [record] = await read('\uFEFFid,amount\n007,1e3\n');
    expect(record!.data).toEqual({ id: '007', amount: '1e3' });
  });

  it('reads TSV and custom delimiters', async () => {
    const tsv = await collect<SourceRecord>(recordStream({ input: byteStream('a\tb\n1\t"x\ty"\n'), format: 'tsv' }));
    expect(tsv[0]!.data).toEqual({ a: '1', b: 'x\ty' });
    const semi = await read('a;b\n1;"2;3"\n', { delimiter: ';' });
    expect(semi[0]!.data).toEqual({ a: '1', b: '2;3' });
  });

  it('reads rows with more fields than the scanner first makes room for, whole and byte by byte', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const text = `${names.join(',')}\n${names.map((n) => `"${n}, v"`).join(',')}\n`;
    for (const size of [undefined, 1]) {
      const [record] = await read(text, {}, size);
      expect(Object.values(record!.data)).toEqual(names.map((n) => `${n}, v`));
    }
  });

  it('skips exactly the rows prepare rejects, with the same record numbers, lines, codes and raw text', async () => {
    const csv = Buffer.concat([
      Buffer.from('id,text\n1,ok\n2,"x"y\n3\n4,"fine\nstill"\n5,'),
      Buffer.from([0xff, 0x0a]),
      Buffer.from('6,"never closed\n'),
    ]);
    const skipped: RejectedRecord[] = [];
    const stream = recordStream({ input: byteStream(csv, 5), format: 'csv', onInvalidRecord: 'skip' });
    stream.on('skip', (r: RejectedRecord) => skipped.push(r));
    const records = await collect<SourceRecord>(stream);
    const prepared: RejectedRecord[] = [];
    const rejects = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) prepared.push(JSON.parse(line) as RejectedRecord);
        callback();
      },
    });
    const output = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await prepareRequests({ input: byteStream(csv, 5), format: 'csv', onInvalidRecord: 'skip', output, rejects, model: 'm', prompt: '{{text}}' });
    expect(records.map((r) => [r.index, r.line])).toEqual([
      [1, 2],
      [4, 5],
    ]);
    const verdict = (r: RejectedRecord) => [r.record, r.line, r.code, r.raw];
    expect(skipped.map(verdict)).toEqual(prepared.map(verdict));
    expect(skipped.map((r) => r.code)).toEqual(['RECORD_INVALID', 'RECORD_INVALID', 'INPUT_ENCODING', 'RECORD_INVALID']);
  });

  it('keeps a column named __proto__ as data', async () => {
    const [record] = await read('__proto__,b\nx,y\n');
    expect(Object.keys(record!.data)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(record!.data)).toBe(Object.prototype);
  });

  it('stops on a row with the wrong number of fields with RECORD_INVALID naming file and line', async () => {
    const path = await tempFile('bad.csv', 'a,b\n1,2\n3\n4,5\n');
    const err = await catchError(() => collect(recordStream({ input: path })));
    expectKbatchError(err, { code: 'RECORD_INVALID', file: path, line: 3, record: 2, message: 'expected 2 fields' });
    expect((err as Error).message).toContain(`${path}:3:`);
  });

  it('stops on an unclosed quote and on text after a closing quote', async () => {
    expectKbatchError(await catchError(() => read('a,b\n1,"open\n')), { code: 'RECORD_INVALID', line: 2, message: 'not closed' });
    expectKbatchError(await catchError(() => read('a,b\n1,"x"y\n')), { code: 'RECORD_INVALID', line: 2, message: 'after a closing quote' });
    expectKbatchError(await catchError(() => read('a,b\n1,x"y\n')), { code: 'RECORD_INVALID', message: 'quote appears inside' });
  });

  it('names the character after a closing quote even when a chunk ends inside it', async () => {
    for (const size of [1, 2, 9]) {
      expectKbatchError(await catchError(() => read('a,b\n1,"x"é\n', {}, size)), { code: 'RECORD_INVALID', line: 2, message: 'unexpected character "é"' });
    }
  });

  it('refuses a header that names a column twice', async () => {
    expectKbatchError(await catchError(() => read('a,a\n1,2\n')), { code: 'RECORD_INVALID', line: 1, field: 'a' });
  });

  it('skips malformed rows with onInvalidRecord skip, reporting raw text, line and reason', async () => {
    const skipped: RejectedRecord[] = [];
    const stream = recordStream({
      input: byteStream('a,b\n1,2\n3\n4,"x"y\n5,"ok\nfine"\n6,"never closed\n'),
      format: 'csv',
      onInvalidRecord: 'skip',
    });
    stream.on('skip', (r: RejectedRecord) => skipped.push(r));
    const records = await collect<SourceRecord>(stream);
    expect(records.map((r) => [r.index, r.line, r.data.a])).toEqual([
      [1, 2, '1'],
      [4, 5, '5'],
    ]);
    expect(skipped.map((r) => [r.record, r.line, r.raw])).toEqual([
      [2, 3, '3'],
      [3, 4, '4,"x"y'],
      [5, 7, '6,"never closed\n'],
    ]);
    expect(skipped.every((r) => r.code === 'RECORD_INVALID' && r.reason.length > 0)).toBe(true);
  });

  it('reads JSON Lines with nested values, skipping blank lines', async () => {
    const text = '{"id":1,"item":{"name":"lamp"}}\n\n{"id":"b","tags":["x"]}\r\n';
    const records = await collect<SourceRecord>(recordStream({ input: byteStream(text, 3), format: 'jsonl' }));
    expect(records).toEqual([
      { index: 1, line: 1, data: { id: 1, item: { name: 'lamp' } } },
      { index: 2, line: 3, data: { id: 'b', tags: ['x'] } },
    ]);
  });

  it('rejects a JSON line that is invalid or not an object', async () => {
    expectKbatchError(await catchError(() => collect(recordStream({ input: byteStream('{"a":1}\n{oops\n'), format: 'jsonl' }))), {
      code: 'RECORD_INVALID',
      line: 2,
      message: 'invalid JSON',
    });
    const skipped: RejectedRecord[] = [];
    const records = await collect(
      recordStream({ input: byteStream('[1]\n{"a":1}\n'), format: 'jsonl', onInvalidRecord: 'skip', onReject: (r) => skipped.push(r) }),
    );
    expect(records).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ line: 1, record: 1, raw: '[1]', reason: 'the line is valid JSON but not an object' });
  });

  it('reads a top-level JSON array through stream-json', async () => {
    const text = '[{"id":1,"a":{"b":"c"}},\n {"id":2}]';
    const records = await collect<SourceRecord>(recordStream({ input: byteStream(text, 4), format: 'json' }));
    expect(records.map((r) => [r.index, r.data])).toEqual([
      [1, { id: 1, a: { b: 'c' } }],
      [2, { id: 2 }],
    ]);
  });

  it('stops on invalid JSON arrays and on non-object elements', async () => {
    expectKbatchError(await catchError(() => collect(recordStream({ input: byteStream('[{"a":1},{"a":'), format: 'json' }))), {
      code: 'RECORD_INVALID',
    });
    expectKbatchError(await catchError(() => collect(recordStream({ input: byteStream('[{"a":1}, 5]'), format: 'json' }))), {
      code: 'RECORD_INVALID',
      record: 2,
    });
  });

  it('takes the format from the extension and reads the same file again', async () => {
    const path = await tempFile('items.jsonl', '{"x":1}\n{"x":2}\n');
    const first = await collect<SourceRecord>(recordStream({ input: path }));
    const second = await collect<SourceRecord>(recordStream({ input: path }));
    expect(second).toEqual(first);
    expect(first).toHaveLength(2);
  });

  it('fails with INPUT_NOT_FOUND for a missing file and INPUT_FORMAT_UNKNOWN for stdin without a format', async () => {
    expectKbatchError(await catchError(() => collect(recordStream({ input: '/nonexistent/x.csv' }))), { code: 'INPUT_NOT_FOUND' });
    expectKbatchError(await catchError(() => collect(recordStream({ input: '-', stdin: byteStream('a\n1\n') }))), {
      code: 'INPUT_FORMAT_UNKNOWN',
    });
  });

  it('validates its options with OPTION_INVALID', async () => {
    const err = await catchError(() => recordBatches({ input: 'a.csv', delimiter: ',,' }).next());
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'delimiter', message: 'must be a single character' });
  });

  it('keeps memory to the current batch on a large input', async () => {
    const rows = 20_000;
    const source = (async function* () {
      yield 'id,text\n';
      for (let i = 0; i < rows; i += 1000) {
        let s = '';
        for (let j = i; j < i + 1000; j++) s += `${j},"row, ${j}\nsecond line"\n`;
        yield Buffer.from(s);
      }
    })();
    let count = 0;
    let largest = 0;
    for await (const batch of recordBatches({ input: (await import('node:stream')).Readable.from(source), format: 'csv' })) {
      count += batch.length;
      largest = Math.max(largest, batch.length);
    }
    expect(count).toBe(rows);
    expect(largest).toBeLessThanOrEqual(1001);
  });

  describe('encoding', () => {
    const latin1 = (text: string) => Buffer.from(text, 'latin1');

    it('rejects a JSONL line or JSON element holding invalid UTF-8 with INPUT_ENCODING, or skips it', async () => {
      const jsonl = latin1('{"t":"ok"}\n{"t":"caf\xe9"}\n{"t":"ok2"}\n');
      const err = await catchError(() => collect(recordStream({ input: byteStream(jsonl, 3), format: 'jsonl' })));
      expectKbatchError(err, { code: 'INPUT_ENCODING', line: 2, record: 2, message: '-:2: invalid UTF-8 at column 10' });
      const rejected: RejectedRecord[] = [];
      const kept = await collect<SourceRecord>(recordStream({ input: byteStream(jsonl, 3), format: 'jsonl', onInvalidRecord: 'skip', onReject: (r) => rejected.push(r) }));
      expect(kept.map((r) => r.data.t)).toEqual(['ok', 'ok2']);
      expect(rejected.map((r) => [r.record, r.code])).toEqual([[2, 'INPUT_ENCODING']]);
      const array = latin1('[{"t":"ok"},{"t":"caf\xe9"}]');
      const arrayErr = await catchError(() => collect(recordStream({ input: byteStream(array, 4), format: 'json' })));
      expectKbatchError(arrayErr, { code: 'INPUT_ENCODING', record: 2, message: 'invalid UTF-8 in array element 2' });
    });

    it('decodes CSV, JSONL and JSON as Latin-1 with encoding latin1', async () => {
      for (const [format, text] of [
        ['csv', 't\ncaf\xe9\n'],
        ['jsonl', '{"t":"caf\xe9"}\n'],
        ['json', '[{"t":"caf\xe9"}]'],
      ] as const) {
        const records = await collect<SourceRecord>(recordStream({ input: byteStream(latin1(text), 2), format, encoding: 'latin1' }));
        expect(records.map((r) => r.data.t)).toEqual(['café']);
      }
      const err = await catchError(() => collect(recordStream({ input: byteStream('t\n'), format: 'csv', encoding: 'ascii' as 'utf8' })));
      expectKbatchError(err, { code: 'OPTION_INVALID', field: 'encoding', message: 'must be one of utf8, latin1' });
    });

    it('keeps valid multi-byte characters cut between chunks, and a U+FFFD the file really holds', async () => {
      const text = 'id,t\n1,é日本😀\n2,\uFFFD\n';
      for (const size of [1, 2, 3, 5]) expect((await read(text, {}, size)).map((r) => r.data.t)).toEqual(['é日本😀', '\uFFFD']);
    });

    it('calls onHeader with the header before any row, also when there is none', async () => {
      const headers: Array<[string[], number]> = [];
      expect(await read('\na,b\n', { onHeader: (c: string[], l: number) => headers.push([c, l]) })).toEqual([]);
      expect(headers).toEqual([[['a', 'b'], 2]]);
    });
  });
});
