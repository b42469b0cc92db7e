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

  it('writes the rows before a bad record (past the first window) and no row twice when the join stops on it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-join-files-'));
    const input = join(dir, 'in.jsonl');
    const lines = Array.from({ length: 3000 }, (_, i) => (i === 2499 ? '{bad' : JSON.stringify({ id: `r${i + 1}`, text: 'x'.repeat(200) })));
    await writeFile(input, `${lines.join('\n')}\n`);
    const results = join(dir, 'results.jsonl');
    await writeFile(results, `${lines.map((_, i) => JSON.stringify(okLine(`row-${i + 1}`, 'positive'))).join('\n')}\n`);
    const output = join(dir, 'out.jsonl');
    const err = await catchError(() => joinFiles({ input, results: [results], labels: ['positive'], output, onInvalidRecord: 'error' }));
    expectKbatchError(err, { code: 'RECORD_INVALID', line: 2500 });
    const written = (await readFile(output, 'utf8')).split('\n').filter((l) => l !== '');
    // The rows joined before the reader met the bad record (input read in 64 KiB chunks), each once, in input order.
    expect(written.length).toBeGreaterThanOrEqual(1024);
    expect(written.length).toBeLessThan(2500);
    expect(written.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(Array.from({ length: written.length }, (_, i) => `r${i + 1}`));
  });
});
