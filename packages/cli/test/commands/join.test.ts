import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { isKbatchError, recordStream } from '@kbatch/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitError } from '../../src/exit-error.js';
import { createProgram } from '../../src/program.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-join-'));
  await writeFile(join(dir, 'reviews.csv'), 'id,text\na1,"Loved it, really"\na2,Terrible\na3,"It was ""ok"""\na4,no result\n');
  const line = (id: string, content: string) =>
    JSON.stringify({
      id: `b-${id}`,
      custom_id: id,
      response: { status_code: 200, request_id: 'r', body: { choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1 } } },
      error: null,
    });
  await writeFile(join(dir, 'out.jsonl'), [line('a3', 'Neutral.'), line('a1', '"Positive"'), line('zz', 'stray')].join('\n') + '\n');
  await writeFile(
    join(dir, 'err.jsonl'),
    JSON.stringify({ id: 'b-a2', custom_id: 'a2', response: { status_code: 503, body: { error: { message: 'overloaded' } } }, error: null }) + '\n',
  );
  await writeFile(join(dir, 'all-ok.jsonl'), [line('row-1', 'yes'), line('row-2', 'no')].join('\n') + '\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run `kbatch …args` in-process; returns stdout, stderr and what it threw. */
async function kbatch(args: string[], stdin = '') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (c: Buffer) => out.push(c.toString()));
  stderr.on('data', (c: Buffer) => err.push(c.toString()));
  const io = { stdin: Readable.from([stdin]), stdout, stderr, env: {}, cwd: dir };
  let error: unknown;
  try {
    await createProgram(io).exitOverride().parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e;
  }
  return { stdout: out.join(''), stderr: err.join(''), error };
}

describe('kbatch join', () => {
  it('reads the input with the --delimiter and --on-invalid skip that prepare was given, warning about skipped rows', async () => {
    await writeFile(join(dir, 'semi.csv'), 'id;text\nrow-1;good\nbroken;row;here\nrow-2;bad\n');
    const res = await kbatch(['join', '--input', 'semi.csv', '--results', 'all-ok.jsonl', '--id-column', 'id', '--delimiter', ';', '--on-invalid', 'skip']);
    expect(res.error).toBeUndefined();
    const rows = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.id, r.text, r.response])).toEqual([['row-1', 'good', 'yes'], ['row-2', 'bad', 'no']]);
    expect(res.stderr).toMatch(/warning: skipped record 2 \(.*semi\.csv line 3\)/);
  });

  it('stops on the malformed row by default with RECORD_INVALID', async () => {
    const res = await kbatch(['join', '--input', 'semi.csv', '--results', 'all-ok.jsonl', '--id-column', 'id', '--delimiter', ';']);
    expect(isKbatchError(res.error) && res.error.code).toBe('RECORD_INVALID');
  });

  it('joins labels onto a CSV in input order and writes CSV that round-trips', async () => {
    const res = await kbatch(
      ['join', '--input', 'reviews.csv', '--results', 'out.jsonl', '--errors', 'err.jsonl', '--id-column', 'id', '--labels', 'positive,negative,neutral', '--output', 'labeled.csv'],
    );
    // Read the CSV back through the records reader (csv-parse underneath): a real round trip.
    const rows: Record<string, string>[] = [];
    for await (const r of recordStream({ input: join(dir, 'labeled.csv') })) rows.push(r.data as Record<string, string>);
    expect(rows.map((r) => [r.id, r.text, r.label])).toEqual([
      ['a1', 'Loved it, really', 'positive'],
      ['a2', 'Terrible', ''],
      ['a3', 'It was "ok"', 'neutral'],
      ['a4', 'no result', ''],
    ]);
    expect(rows[1]!.error).toBe('HTTP 503: overloaded');
    expect(rows[3]!.error).toContain('JOIN_MISSING_RESULT');
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('joined 4 records: 2 succeeded, 1 failed, 0 invalid answers, 1 missing results; 1 unknown, 0 duplicate results');
    expect(res.error).toBeInstanceOf(ExitError);
    expect((res.error as ExitError).exitCode).toBe(3);
  });

  it('reads --labels like kbatch run: labels trimmed, empty ones dropped', async () => {
    const args = ['join', '--input', 'reviews.csv', '--results', 'out.jsonl', '--errors', 'err.jsonl', '--id-column', 'id', '--labels'];
    const clean = await kbatch([...args, 'positive,negative,neutral']);
    const sloppy = await kbatch([...args, ' positive,,negative, neutral,']);
    expect(sloppy.stdout).toBe(clean.stdout);
    expect(JSON.parse(sloppy.stdout.split('\n')[0]!)).toMatchObject({ id: 'a1', label: 'positive' });
  });

  it('lists missing and unknown results with --verbose', async () => {
    const res = await kbatch(['join', '--input', 'reviews.csv', '--results', 'out.jsonl', '--id-column', 'id', '--verbose']);
    expect(res.stderr).toMatch(/JOIN_MISSING_RESULT: record 2 \(custom_id "a2"\) has no result/);
    expect(res.stderr).toMatch(/JOIN_UNKNOWN_RESULT: result for custom_id "zz"/);
  });

  it('writes JSON Lines to stdout by default, reads stdin with -, and exits 0 when all succeeded', async () => {
    const res = await kbatch(['join', '--input', '-', '--format', 'jsonl', '--results', 'all-ok.jsonl', '--prefix', 'kb_'], '{"q":"a"}\n{"q":"b"}\n');
    expect(res.error).toBeUndefined();
    const rows = res.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.q, r.kb_custom_id, r.kb_response, r.kb_error])).toEqual([
      ['a', 'row-1', 'yes', null],
      ['b', 'row-2', 'no', null],
    ]);
  });

  it('writes a JSON array chosen by --output-format', async () => {
    const res = await kbatch(['join', '--input', '-', '--format', 'jsonl', '--results', 'all-ok.jsonl', '--output-format', 'json'], '{"q":"a"}\n{"q":"b"}\n');
    expect(JSON.parse(res.stdout).map((r: { response: string }) => r.response)).toEqual(['yes', 'no']);
  });

  it('validates answers against --schema and names the failing path', async () => {
    await writeFile(join(dir, 'schema.json'), JSON.stringify({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }));
    const res = await kbatch(['join', '--input', '-', '--format', 'jsonl', '--results', 'all-ok.jsonl', '--schema', 'schema.json'], '{"q":"a"}\n{"q":"b"}\n');
    const rows = res.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rows[0].ok).toBeNull();
    expect(rows[0].error).toMatch(/^invalid answer: answer is not valid JSON/);
    expect(res.stderr).toContain('2 invalid answers');
  });

  it('fails with JOIN_FIELD_COLLISION when an input field has an added name', async () => {
    const res = await kbatch(['join', '--input', '-', '--format', 'jsonl', '--results', 'all-ok.jsonl'], '{"response":"mine"}\n');
    expect(isKbatchError(res.error) && res.error.code).toBe('JOIN_FIELD_COLLISION');
    expect((res.error as Error).message).toContain('--prefix kb_');
  });

  it('shows an example in --help', async () => {
    const res = await kbatch(['join', '--help']);
    expect(res.stdout).toContain('kbatch join --input reviews.csv --results outputs.jsonl');
  });
});
