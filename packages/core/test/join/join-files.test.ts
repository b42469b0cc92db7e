import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinFiles } from '../../src/join/join-files.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { okLine } from './fixtures.js';

describe('joinFiles', () => {
  it('reads the input with the encoding prepare was given (latin1), and reports invalid UTF-8 without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-join-files-'));
    const input = join(dir, 'in.csv');
    await writeFile(input, Buffer.from('id,text\n1,caf\xe9\n', 'latin1'));
    const results = join(dir, 'results.jsonl');
    await writeFile(results, `${JSON.stringify(okLine('row-1', 'positive'))}\n`);
    const output = join(dir, 'out.jsonl');
    const report = await joinFiles({ input, encoding: 'latin1', results: [results], labels: ['positive', 'negative'], output });
    expect(report).toMatchObject({ records: 1, succeeded: 1 });
    expect(JSON.parse(await readFile(output, 'utf8'))).toMatchObject({ id: '1', text: 'café', label: 'positive' });
    const err = await catchError(() => joinFiles({ input, results: [results], output: join(dir, 'out2.jsonl') }));
    expectKbatchError(err, { code: 'INPUT_ENCODING', line: 2 });
  });
});
