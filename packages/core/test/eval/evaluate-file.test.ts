import { describe, expect, it } from 'vitest';
import { link, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { evaluateFile } from '../../src/eval/evaluate-file.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

async function file(name: string, text: string): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-eval-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return { dir, path };
}

const CSV = 'id,text,gold,label,confidence,error\n1,"a, b",pos,pos,0.9,\n2,"say ""no""",pos,neg,0.7,\n3,c,neg,neg,,\n4,d,neg,,,HTTP 500: boom\n';

describe('evaluateFile', () => {
  it('evaluates a CSV (strings: empty cells are no value) and writes the disagreements as CSV with the same header', async () => {
    const { dir, path } = await file('labeled.csv', CSV);
    const out = join(dir, 'wrong.csv');
    const r = await evaluateFile({ input: path, gold: 'gold', disagreements: out });
    expect([r.n, r.scored, r.correct, r.unscored_by_reason.failed, r.calibration?.n]).toEqual([4, 3, 2, 1, 2]);
    expect(await readFile(out, 'utf8')).toBe('id,text,gold,label,confidence,error\n2,"say ""no""",pos,neg,0.7,\n');
  });

  it('writes disagreements as JSON Lines and as a JSON array for those inputs, and an empty array when there are none', async () => {
    const rows = [{ gold: 'a', label: 'b', n: 1 }, { gold: 'a', label: 'a', n: 2 }];
    const jsonl = await file('out.jsonl', rows.map((r) => JSON.stringify(r)).join('\n'));
    await evaluateFile({ input: jsonl.path, gold: 'gold', disagreements: join(jsonl.dir, 'd.jsonl') });
    expect(await readFile(join(jsonl.dir, 'd.jsonl'), 'utf8')).toBe(`${JSON.stringify(rows[0])}\n`);
    const array = await file('out.json', JSON.stringify(rows));
    await evaluateFile({ input: array.path, gold: 'gold', disagreements: join(array.dir, 'd.json') });
    expect(JSON.parse(await readFile(join(array.dir, 'd.json'), 'utf8'))).toEqual([rows[0]]);
    const right = await file('right.json', JSON.stringify([rows[1]]));
    await evaluateFile({ input: right.path, gold: 'gold', disagreements: join(right.dir, 'd.json') });
    expect(JSON.parse(await readFile(join(right.dir, 'd.json'), 'utf8'))).toEqual([]);
  });

  it('reads a stream with its format', async () => {
    const r = await evaluateFile({ input: Readable.from(['gold\tlabel\nx\tx\n']), format: 'tsv', gold: 'gold' });
    expect([r.n, r.accuracy]).toEqual([1, 1]);
  });

  it('refuses a CSV header without the gold column before any row, naming the file, line and the columns', async () => {
    const { path } = await file('labeled.csv', CSV);
    const err = await catchError(() => evaluateFile({ input: path, gold: 'truth' }));
    expectKbatchError(err, { code: 'EVAL_COLUMN_MISSING', file: path, line: 1, field: 'truth' });
    expect((err as Error).message).toBe(`${path} line 1 (header) has no column "truth" (--gold); its columns are: id, text, gold, label, confidence, error`);
  });

  it('names the file, line and row of a JSONL row without the prediction column', async () => {
    const { path } = await file('out.jsonl', '{"gold":"a","label":"a"}\n\n{"gold":"a","answer":"a"}\n');
    const err = await catchError(() => evaluateFile({ input: path, gold: 'gold' }));
    expectKbatchError(err, { code: 'EVAL_COLUMN_MISSING', file: path, line: 3, record: 2, message: `${path} line 3 (row 2) has no column "label" (--pred); its columns are: gold, answer` });
  });

  it('refuses a disagreements path that is the input through a symlink or a hard link, leaving the input whole', async () => {
    const text = '{"gold":"a","label":"b"}\n{"gold":"a","label":"a"}\n';
    const { dir, path } = await file('out.jsonl', text);
    await symlink(path, join(dir, 'soft.jsonl'));
    await link(path, join(dir, 'hard.jsonl'));
    for (const name of ['soft.jsonl', 'hard.jsonl']) {
      const err = await catchError(() => evaluateFile({ input: path, gold: 'gold', disagreements: join(dir, name) }));
      expectKbatchError(err, { code: 'OPTION_INVALID', field: 'disagreements', message: 'must not be the input file' });
    }
    // The input named through a symlink, the disagreements by its real path.
    expectKbatchError(await catchError(() => evaluateFile({ input: join(dir, 'soft.jsonl'), gold: 'gold', disagreements: path })), { code: 'OPTION_INVALID' });
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('leaves no half-written disagreements file when a row fails (an existing file keeps its content, no temp file stays)', async () => {
    const { dir, path } = await file('out.jsonl', '{"gold":"a","label":"b"}\n{"gold":"a","label":"b","confidence":"high"}\n');
    const fresh = join(dir, 'fresh.jsonl');
    expectKbatchError(await catchError(() => evaluateFile({ input: path, gold: 'gold', disagreements: fresh })), { code: 'RECORD_INVALID' });
    const kept = join(dir, 'kept.jsonl');
    await writeFile(kept, 'yesterday\n');
    expectKbatchError(await catchError(() => evaluateFile({ input: path, gold: 'gold', disagreements: kept })), { code: 'RECORD_INVALID' });
    expect(await readFile(kept, 'utf8')).toBe('yesterday\n');
    expect((await readdir(dir)).sort()).toEqual(['kept.jsonl', 'out.jsonl']);
  });

  it('counts a JSONL row without the --by column in group "" but refuses a CSV header without it', async () => {
    const jsonl = await file('out.jsonl', '{"gold":"a","label":"a","lang":"en"}\n{"gold":"a","label":"b"}\n');
    const r = await evaluateFile({ input: jsonl.path, gold: 'gold', by: 'lang' });
    expect(Object.fromEntries(Object.entries(r.by!.groups).map(([k, g]) => [k, g.n]))).toEqual({ '': 1, en: 1 });
    const csv = await file('labeled.csv', CSV);
    expectKbatchError(await catchError(() => evaluateFile({ input: csv.path, gold: 'gold', by: 'lang' })), { code: 'EVAL_COLUMN_MISSING', line: 1, field: 'lang' });
  });
});
