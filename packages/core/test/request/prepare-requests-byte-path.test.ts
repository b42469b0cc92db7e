import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { prepareRequests, type PrepareRequestsOptions, type RejectedRecord } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { byteStream, tempDir, tempFile } from '../helpers/inputs.js';

async function run(input: string | Buffer, extra: Partial<PrepareRequestsOptions>, bytePath: boolean, piece = 7) {
  const dir = await tempDir();
  const output = join(dir, 'out.jsonl');
  const rejects = join(dir, 'rejects.jsonl');
  const summary = await prepareRequests({
    input: byteStream(input, piece),
    format: 'csv',
    output,
    rejects,
    model: 'm',
    prompt: '{{title}}: {{text}}',
    bytePath,
    ...extra,
  } as PrepareRequestsOptions);
  return { summary, output: await readFile(output, 'utf8'), rejects: await readFile(rejects, 'utf8').catch(() => '') };
}

async function same(input: string | Buffer, extra: Partial<PrepareRequestsOptions> = {}) {
  const text = await run(input, extra, false);
  for (const piece of [1, 5, 64, 100_000]) {
    const bytes = await run(input, extra, true, piece);
    expect(bytes.output).toBe(text.output);
    expect(bytes.rejects).toBe(text.rejects);
    expect(bytes.summary).toEqual(text.summary);
  }
  return text;
}

describe('prepareRequests CSV byte path', () => {
  it('writes exactly what the text path writes for RFC 4180 edge cases and JSON escapes', async () => {
    const csv =
      '\uFEFFid,title,text\r\n' +
      '1,plain,"comma, quote ""x"", newline\nend"\r\n' +
      '2,"tab\there",back\\slash\n' +
      '3,ctrl,"\u0001\u0008\u000c\u001f\u007f"\n' +
      '\n' +
      '4,unicode,naïve 日本語 😀 \u2028\n' +
      '5,,""\n' +
      '6,"a\r\nb",last';
    const result = await same(csv);
    expect(result.summary.linesWritten).toBe(6);
    expect(JSON.parse(result.output.split('\n')[2]!).body.messages[0].content).toBe('ctrl: \u0001\u0008\u000c\u001f\u007f');
  });

  it('writes the same system prompt templates, literal escapes and parameters', async () => {
    await same('id,title,text\n1,a,b\n', { system: 'Row {{id}} \\{{x}} "q"', prompt: 'T={{title}} {{text}}\t{{title}}', temperature: 0, stop: ['a', 'b'] });
    await same('id,title,text\n1,a,b\n', { system: 'constant é', prompt: 'no fields at all' });
  });

  it('skips or stops on malformed rows exactly like the text path', async () => {
    const csv = 'id,title,text\n1,a,b\n2,"x"y,z\n3,only\n4,c,"unclosed\n5,d,e\n';
    const skipped = await same(csv, { onInvalidRecord: 'skip' });
    expect(skipped.summary).toMatchObject({ recordsRead: 4, linesWritten: 1, rejected: 3 });
    const text = await catchError(() => run(csv, {}, false));
    const bytes = await catchError(() => run(csv, {}, true));
    expectKbatchError(bytes, { code: 'RECORD_INVALID', line: 3, record: 2, message: (text as Error).message });
  });

  it('reports invalid UTF-8 with INPUT_ENCODING naming the line and field, the same on both paths', async () => {
    const csv = Buffer.concat([Buffer.from('id,title,text\n1,'), Buffer.from([0xff, 0xc3]), Buffer.from(',ok\n2,é,\xe9\n3,fine,ok\n', 'latin1')]);
    const skipped = await same(csv, { onInvalidRecord: 'skip' });
    expect(skipped.summary).toMatchObject({ recordsRead: 3, linesWritten: 1, rejected: 2 });
    const rejects = skipped.rejects.trim().split('\n').map((l) => JSON.parse(l) as RejectedRecord);
    expect(rejects.map((r) => [r.record, r.line, r.code, r.reason.split(' (')[0]])).toEqual([
      [1, 2, 'INPUT_ENCODING', 'invalid UTF-8 in field "title"'],
      [2, 3, 'INPUT_ENCODING', 'invalid UTF-8 in field "title"'],
    ]);
    expect(rejects[0]!.reason).toContain('--encoding latin1');
    const text = await catchError(() => run(csv, {}, false));
    const bytes = await catchError(() => run(csv, {}, true));
    expectKbatchError(bytes, { code: 'INPUT_ENCODING', line: 2, record: 1, message: (text as Error).message });
    expect((bytes as Error).message).toMatch(/^-:2: invalid UTF-8 in field "title" .*--encoding latin1/);
  });

  it('decodes Latin-1 input with encoding latin1, the same on both paths', async () => {
    const csv = Buffer.from('id,title,text\n1,caf\xe9,na\xefve \xbd\n', 'latin1');
    const result = await same(csv, { encoding: 'latin1' });
    expect(JSON.parse(result.output).body.messages[0].content).toBe('café: naïve ½');
  });

  it('calls checkRecord with the first row on both paths, and stops when it throws', async () => {
    for (const bytePath of [false, true]) {
      const seen: unknown[] = [];
      const result = await run('id,title,text\n1,a,b\n2,c,d\n', { checkRecord: (record, file) => seen.push([record, file]) }, bytePath);
      expect(result.summary.linesWritten).toBe(2);
      expect(seen).toEqual([[{ index: 1, line: 2, data: { id: '1', title: 'a', text: 'b' } }, '-']]);
      const err = await catchError(() => run('id,title,text\n1,a,b\n', { checkRecord: () => { throw new Error('stop'); } }, bytePath));
      expect((err as Error).message).toBe('stop');
    }
  });

  it('reads TSV and custom delimiters', async () => {
    await same('id\ttitle\ttext\n1\t"a\tb"\tc\n', { format: 'tsv' });
    await same('id;title;text\n1;"a;b";c\n', { delimiter: ';' });
  });

  it('splits on a non-ASCII delimiter (UTF-8 or Latin-1), the same on both paths', async () => {
    for (const delimiter of ['§', 'é', '€']) {
      const result = await same(`id${delimiter}title${delimiter}text\n1${delimiter}"a${delimiter}b"${delimiter}ã·ü\n`, { delimiter });
      expect(JSON.parse(result.output).body.messages[0].content).toBe(`a${delimiter}b: ã·ü`);
    }
    const latin1 = Buffer.from('id\xa7title\xa7text\n1\xa7caf\xe9\xa7x\n', 'latin1');
    const result = await same(latin1, { delimiter: '§', encoding: 'latin1' });
    expect(JSON.parse(result.output).body.messages[0].content).toBe('café: x');
  });

  it('reads chunks that are plain Uint8Arrays, not Buffers, on both paths', async () => {
    for (const bytePath of [false, true]) {
      for (const encoding of ['utf8', 'latin1'] as const) {
        const dir = await tempDir();
        const output = join(dir, 'out.jsonl');
        const bytes = Buffer.from('id,title,text\n1,h\xe9,"x""y"\n', encoding === 'utf8' ? 'utf8' : 'latin1');
        const input = Readable.from([new Uint8Array(bytes.subarray(0, 9)), new Uint8Array(bytes.subarray(9))]);
        await prepareRequests({ input, format: 'csv', encoding, output, model: 'm', prompt: '{{title}}: {{text}}', bytePath });
        expect(JSON.parse(await readFile(output, 'utf8')).body.messages[0].content).toBe('hé: x"y');
      }
    }
  });

  it('fails on a template field the header lacks with TEMPLATE_FIELD_MISSING, before any row and on both paths', async () => {
    for (const bytePath of [false, true]) {
      for (const csv of ['id,title,text\n1,a,b\n', 'id,title,text\n']) {
        const err = await catchError(() => run(csv, { prompt: '{{nope}}', onInvalidRecord: 'skip' }, bytePath));
        expectKbatchError(err, { code: 'TEMPLATE_FIELD_MISSING', line: 1, record: undefined, field: 'nope', message: 'the header has no column "nope" used by the template (columns: id, title, text)' });
      }
    }
    const noId = await catchError(() => run('id,title,text\n1,a,b\n', { idColumn: 'sku' }, true));
    expectKbatchError(noId, { code: 'CUSTOM_ID_MISSING', record: 1, field: 'sku' });
  });

  it('takes ids from a column with the same checks as the text path', async () => {
    const csv = 'id,title,text\n"a ""1""",x,y\n007,t,u\n" ",e,f\n007,d,g\n\t,h,i\n';
    const skipped = await same(csv, { idColumn: 'id', onInvalidRecord: 'skip' });
    expect(skipped.output.trimEnd().split('\n').map((l) => JSON.parse(l).custom_id)).toEqual(['a "1"', '007']);
    expect(skipped.summary).toMatchObject({ recordsRead: 5, linesWritten: 2, rejected: 3 });
    const dup = csv.replace('" "', '8');
    const dupText = await catchError(() => run(dup, { idColumn: 'id' }, false));
    const dupBytes = await catchError(() => run(dup, { idColumn: 'id' }, true));
    expectKbatchError(dupBytes, { code: 'CUSTOM_ID_DUPLICATE', message: (dupText as Error).message, customId: '007' });
    const emptyText = await catchError(() => run(csv, { idColumn: 'id' }, false));
    const emptyBytes = await catchError(() => run(csv, { idColumn: 'id' }, true));
    expectKbatchError(emptyBytes, { code: 'CUSTOM_ID_MISSING', message: (emptyText as Error).message, record: 3 });
  });

  it('handles empty input, a header alone and a duplicate header name', async () => {
    expect((await same('')).summary.recordsRead).toBe(0);
    expect((await same('id,title,text\n')).summary.recordsRead).toBe(0);
    expectKbatchError(await catchError(() => run('a,a\n1,2\n', { prompt: '{{a}}' }, true)), { code: 'RECORD_INVALID', line: 1 });
  });

  it('reads a file path and agrees with the text path on a larger generated input', async () => {
    let seed = 3;
    // Math.imul: a float product loses its low bits past 2^53 and the sequence falls into a short cycle.
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    const atoms = ['w', 'é', '😀', ',', '""', '\n', '\r\n', '\\', '\t', ' '];
    let csv = 'id,title,text\n';
    for (let i = 0; i < 2000; i++) {
      let v = '';
      for (let k = (rnd() * 10) | 0; k > 0; k--) v += atoms[(rnd() * atoms.length) | 0];
      csv += `${i},t${i},"${v}"\n`;
    }
    const path = await tempFile('gen.csv', csv);
    const dir = await tempDir();
    const a = join(dir, 'a.jsonl');
    const b = join(dir, 'b.jsonl');
    await prepareRequests({ input: path, output: a, model: 'm', prompt: '{{text}}', bytePath: true });
    await prepareRequests({ input: path, output: b, model: 'm', prompt: '{{text}}', bytePath: false });
    expect(await readFile(a, 'utf8')).toBe(await readFile(b, 'utf8'));
  });
});
