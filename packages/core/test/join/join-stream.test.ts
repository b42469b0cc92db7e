import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JoinIssue } from '../../src/join/join-issue.js';
import { joinChunks } from '../../src/join/join-chunks.js';
import type { JoinReport } from '../../src/join/join-report.js';
import { joinStream } from '../../src/join/join-stream.js';
import { indexResultFiles } from '../../src/join/result-file-index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { fromArray, run } from '../helpers/streams.js';
import { httpErrorLine, okLine, records, shuffle } from './fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kbatch-join-'));
});

async function jsonl(name: string, lines: unknown[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

describe('joinStream', () => {
  it('restores input order from shuffled results in files', async () => {
    const input = records(200);
    const outputs = await jsonl('shuffled.jsonl', shuffle(input.map((r) => okLine(`row-${r.index}`, `answer ${r.index}`))));
    let report: JoinReport | undefined;
    const rows = await run<Record<string, unknown>>(
      fromArray(input),
      joinStream({ chunks: [{ requests: Infinity, files: [outputs] }], onReport: (r) => (report = r) }),
    );
    expect(rows.map((r) => r.id)).toEqual(input.map((r) => r.data.id));
    expect(rows.every((r) => r.response === `answer ${String(r.custom_id).slice(4)}`)).toBe(true);
    expect(report).toMatchObject({ records: 200, succeeded: 200, failed: 0, missing: 0, unknown: 0, duplicates: 0, promptTokens: 2000, completionTokens: 400 });
  });

  it('gives the same rows, issues and report when it joins records a window at a time', async () => {
    const input = records(300);
    // Shuffled, with a duplicate, a result matching no record, a failure in the error file and one record left without a result.
    const ok = shuffle(input.filter((r) => r.index !== 7 && r.index !== 8).map((r) => okLine(`row-${r.index}`, `answer ${r.index}`)));
    const outputs = await jsonl('window-out.jsonl', [...ok.slice(0, 150), okLine('row-42', 'again'), okLine('row-999', 'stray'), ...ok.slice(150)]);
    const errors = await jsonl('window-err.jsonl', [httpErrorLine('row-8')]);
    const joinWith = async (window: number) => {
      const issues: JoinIssue[] = [];
      let report: JoinReport | undefined;
      const rows = await run<Record<string, unknown>>(
        fromArray(input),
        joinStream({ chunks: [{ requests: Infinity, files: [outputs, errors] }], window, onIssue: (i) => issues.push(i), onReport: (r) => (report = r) }),
      );
      return { rows, issues, report };
    };
    const one = await joinWith(1);
    const windowed = await joinWith(64);
    expect(windowed.rows).toEqual(one.rows);
    expect(windowed.issues).toEqual(one.issues);
    expect(windowed.report).toEqual(one.report);
    expect(one.report).toMatchObject({ records: 300, succeeded: 298, failed: 1, missing: 1, unknown: 1, duplicates: 1 });
  });

  it('joins chunk by chunk, each chunk holding only its own results', async () => {
    const input = records(10);
    const first = shuffle(input.slice(0, 4).map((r) => okLine(`row-${r.index}`, 'a')));
    const second = await jsonl('chunk2.jsonl', shuffle(input.slice(4).map((r) => okLine(`row-${r.index}`, 'b'))));
    const rows = await run<Record<string, unknown>>(
      fromArray(input),
      joinStream({ chunks: [{ requests: 4, results: first }, { requests: 6, files: [second] }] }),
    );
    expect(rows.map((r) => r.response)).toEqual(['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'b']);
  });

  it('joins a window that spans two chunks with the results of each chunk', async () => {
    const input = records(10);
    const first = await jsonl('window-chunk1.jsonl', shuffle(input.slice(0, 4).map((r) => okLine(`row-${r.index}`, 'a'))));
    const second = await jsonl('window-chunk2.jsonl', shuffle(input.slice(4).map((r) => okLine(`row-${r.index}`, 'b'))));
    const rows = await run<Record<string, unknown>>(
      fromArray(input),
      joinStream({ chunks: [{ requests: 4, files: [first] }, { requests: 6, files: [second] }], window: 3 }),
    );
    expect(rows.map((r) => r.response)).toEqual(['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'b']);
  });

  it('reports missing, unknown and duplicate results, never ignoring them', async () => {
    const input = records(5);
    const outputs = await jsonl('issues-out.jsonl', [okLine('row-1', 'x'), okLine('row-2', 'x'), okLine('row-2', 'again'), okLine('row-99', 'stray')]);
    const errors = await jsonl('issues-err.jsonl', [httpErrorLine('row-3'), okLine('row-5', 'late')]);
    const issues: JoinIssue[] = [];
    let report: JoinReport | undefined;
    const rows = await run<Record<string, unknown>>(
      fromArray(input),
      joinStream({ chunks: [{ requests: Infinity, files: [outputs, errors] }], onIssue: (i) => issues.push(i), onReport: (r) => (report = r) }),
    );
    expect(rows).toHaveLength(5);
    expect(rows[1]!.response).toBe('x'); // first of two successes kept
    expect(rows[2]!.error).toBe('HTTP 429: Rate limit exceeded (rate_limit_exceeded)');
    expect(rows[3]!.error).toBe('no result for this record (JOIN_MISSING_RESULT)');
    expect(report).toMatchObject({ records: 5, succeeded: 3, failed: 1, missing: 1, unknown: 1, duplicates: 1 });
    expect(issues.map((i) => [i.code, i.customId])).toEqual(
      expect.arrayContaining([
        ['JOIN_DUPLICATE_RESULT', 'row-2'],
        ['JOIN_MISSING_RESULT', 'row-4'],
        ['JOIN_UNKNOWN_RESULT', 'row-99'],
      ]),
    );
    expect(issues.find((i) => i.code === 'JOIN_UNKNOWN_RESULT')).toMatchObject({ file: outputs, line: 4 });
    expect(issues.find((i) => i.code === 'JOIN_MISSING_RESULT')).toMatchObject({ record: 4 });
  });

  it('prefers a success over a failure for the same custom_id (a retried request)', async () => {
    const errors = await jsonl('retry-err.jsonl', [httpErrorLine('row-1')]);
    const outputs = await jsonl('retry-out.jsonl', [okLine('row-1', 'second try')]);
    const rows = await run<Record<string, unknown>>(fromArray(records(1)), joinStream({ chunks: [{ requests: 1, files: [errors, outputs] }] }));
    expect(rows[0]).toMatchObject({ response: 'second try', error: null });
  });

  it('reports results of another chunk as unknown in theirs and the record as missing', async () => {
    const issues: JoinIssue[] = [];
    const rows = await run<Record<string, unknown>>(
      fromArray(records(2)),
      joinStream({ chunks: [{ requests: 1, results: [okLine('row-2', 'b')] }, { requests: 1, results: [okLine('row-1', 'a')] }], onIssue: (i) => issues.push(i) }),
    );
    expect(rows.map((r) => r.error)).toEqual([expect.stringContaining('JOIN_MISSING_RESULT'), expect.stringContaining('JOIN_MISSING_RESULT')]);
    expect(issues.filter((i) => i.code === 'JOIN_UNKNOWN_RESULT')).toHaveLength(2);
  });

  it('fails with JOB_MISMATCH when the input is shorter than the chunks', async () => {
    const err = await catchError(() => run(fromArray(records(2)), joinStream({ chunks: [{ requests: 3, results: [] }] })));
    expectKbatchError(err, { code: 'JOB_MISMATCH', message: 'ended after 2 records' });
  });

  it('fails with RESPONSE_INVALID naming the file and line of a broken result line', async () => {
    const broken = await jsonl('broken.jsonl', [okLine('row-1', 'a'), '{"custom_id": "row-2", "response": ']);
    const err = await catchError(() => run(fromArray(records(2)), joinStream({ chunks: [{ requests: Infinity, files: [broken] }] })));
    expectKbatchError(err, { code: 'RESPONSE_INVALID', file: broken, line: 2 });
  });

  it('fails with INPUT_NOT_FOUND for a missing results file', async () => {
    const err = await catchError(() => run(fromArray(records(1)), joinStream({ chunks: [{ requests: Infinity, files: [join(dir, 'nope.jsonl')] }] })));
    expectKbatchError(err, { code: 'INPUT_NOT_FOUND' });
  });

  it('propagates JOIN_FIELD_COLLISION through the pipeline', async () => {
    const err = await catchError(() => run(fromArray(records(1, () => ({ error: 'x' }))), joinStream({ chunks: [] })));
    expectKbatchError(err, { code: 'JOIN_FIELD_COLLISION', field: 'error' });
  });
});

describe('joinChunks', () => {
  it('yields joined records in input order and returns the report', async () => {
    const input = records(6);
    const gen = joinChunks({
      records: input,
      chunks: [{ requests: 3, results: shuffle(input.slice(0, 3).map((r) => JSON.stringify(okLine(`row-${r.index}`, 'yes')))) }, { requests: 3, results: [] }],
      labels: ['yes', 'no'],
    });
    const rows: Record<string, unknown>[] = [];
    let next = await gen.next();
    while (!next.done) {
      rows.push(next.value);
      next = await gen.next();
    }
    expect(rows.map((r) => r.label)).toEqual(['yes', 'yes', 'yes', null, null, null]);
    expect(next.value).toMatchObject({ records: 6, succeeded: 3, missing: 3 });
  });
});

describe('indexResultFiles', () => {
  it('finds lines by custom_id across files, with CRLF endings and blank lines', async () => {
    const a = join(dir, 'crlf.jsonl');
    await writeFile(a, `${JSON.stringify(okLine('a', 'é ünïcode'))}\r\n\r\n${JSON.stringify(okLine('b', 'two'))}`);
    const lookup = await indexResultFiles([a]);
    expect(lookup.size).toBe(2);
    expect(lookup.take('b')?.response).toBe('two');
    expect(lookup.take('a')?.response).toBe('é ünïcode');
    expect(lookup.take('a')).toBeUndefined();
    expect([...lookup.leftovers()]).toEqual([]);
    await lookup.close();
  });
});
