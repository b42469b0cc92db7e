import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { prepareRequests, type BatchRequestLine } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { byteStream, tempDir, tempFile } from '../helpers/inputs.js';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const parts: Buffer[] = [];
  stream.on('data', (d: Buffer) => parts.push(d));
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

const CSV = 'id,text\n1,"good, really"\n2,"bad ""very"""\n3,naïve 😀\n';

describe('prepareRequests', () => {
  it('writes one request line per record and a summary where read = written + rejected', async () => {
    const input = await tempFile('reviews.csv', CSV);
    const out = sink();
    const summary = await prepareRequests({ input, output: out.stream, model: 'm', prompt: 'Review: {{text}}', idColumn: 'id', maxCompletionTokens: 5 });
    const lines = out.text().trimEnd().split('\n').map((l) => JSON.parse(l) as BatchRequestLine);
    expect(lines.map((l) => [l.custom_id, l.body.messages[0]!.content])).toEqual([
      ['1', 'Review: good, really'],
      ['2', 'Review: bad "very"'],
      ['3', 'Review: naïve 😀'],
    ]);
    expect(lines[0]!.body).toEqual({ model: 'm', messages: [{ role: 'user', content: 'Review: good, really' }], max_completion_tokens: 5 });
    expect(summary).toEqual({ recordsRead: 3, linesWritten: 3, rejected: 0, bytesWritten: Buffer.byteLength(out.text()) });
  });

  it('reads stdin (-) and writes a file', async () => {
    const dir = await tempDir();
    const output = join(dir, 'requests.jsonl');
    const summary = await prepareRequests({ input: '-', stdin: byteStream('{"q":{"t":"hi"}}\n'), format: 'jsonl', output, model: 'm', prompt: '{{q.t}}' });
    expect(summary.linesWritten).toBe(1);
    expect(JSON.parse(await readFile(output, 'utf8')).body.messages[0].content).toBe('hi');
  });

  it('routes malformed rows and bad records to the rejects file with skip and keeps counting', async () => {
    const dir = await tempDir();
    const rejects = join(dir, 'rejects.jsonl');
    const input = await tempFile('in.csv', 'id,text\n1,ok\n2\n1,dup\n3,\n4,"x"y\n');
    const out = sink();
    const summary = await prepareRequests({ input, output: out.stream, rejects, onInvalidRecord: 'skip', model: 'm', prompt: '{{text}}', idColumn: 'id' });
    expect(summary).toMatchObject({ recordsRead: 5, linesWritten: 2, rejected: 3 });
    const rejected = (await readFile(rejects, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rejected.map((r) => [r.line, r.code, r.raw])).toEqual([
      [3, 'RECORD_INVALID', '2'],
      [4, 'CUSTOM_ID_DUPLICATE', '{"id":"1","text":"dup"}'],
      [6, 'RECORD_INVALID', '4,"x"y'],
    ]);
    expect(rejected[0].file).toBe(input);
  });

  it('does not create a rejects file when nothing is rejected', async () => {
    const dir = await tempDir();
    const input = await tempFile('in.csv', CSV);
    await prepareRequests({ input, output: sink().stream, rejects: join(dir, 'r.jsonl'), onInvalidRecord: 'skip', model: 'm', prompt: '{{text}}' });
    await expect(readFile(join(dir, 'r.jsonl'))).rejects.toThrow();
  });

  it('stops on the first bad record by default, naming file and row', async () => {
    const input = await tempFile('in.jsonl', '{"text":"a"}\n{"title":"b"}\n');
    const err = await catchError(() => prepareRequests({ input, output: sink().stream, model: 'm', prompt: '{{title}}' }));
    expectKbatchError(err, { code: 'TEMPLATE_FIELD_MISSING', file: input, record: 1, line: 1, field: 'title' });
  });

  it('stops with ABORTED when its signal is aborted', async () => {
    const input = await tempFile('in.csv', CSV);
    const controller = new AbortController();
    controller.abort();
    const err = await catchError(() => prepareRequests({ input, output: sink().stream, model: 'm', prompt: '{{text}}', signal: controller.signal }));
    expectKbatchError(err, { code: 'ABORTED' });
  });

  it('validates request options before reading anything', async () => {
    const err = await catchError(() => prepareRequests({ input: '/nonexistent.csv', model: 'm', prompt: 'p', temperature: 9 }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'temperature', message: 'between 0 and 2, got 9' });
  });
});
