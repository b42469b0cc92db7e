import { describe, expect, it } from 'vitest';
import { ResultTally } from '../../src/job/result-tally.js';
import { expectKbatchError, catchError } from '../helpers/errors.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineJudge } from '../../src/run/failure-cause.js';
import { createJoinPlan } from '../../src/join/join-plan.js';
import { verdictFilePath } from '../../src/join/verdict-file.js';
import { okLine } from '../join/fixtures.js';

function tallyOf(lines: string[]): ResultTally {
  const tally = new ResultTally(true);
  lines.forEach((line, i) => tally.add(Buffer.from(line), i + 1, 'results/part-00001.output.jsonl'));
  return tally;
}

const ok = (id: string, status = 200) =>
  JSON.stringify({ id: `r-${id}`, custom_id: id, response: { status_code: status, body: { choices: [{ message: { content: 'x "y" \\ z' } }] } }, error: null });

describe('ResultTally', () => {
  it('counts successes in the usual shape and collects their ids', () => {
    const tally = tallyOf([ok('a'), ok('b', 201)]);
    expect([tally.succeeded, tally.failed, tally.unrunLines, [...tally.resolved]]).toEqual([2, 0, 0, ['a', 'b']]);
  });

  it('judges other shapes by parsing them: failures, never-run markers, escaped ids, spaced JSON', () => {
    const tally = tallyOf([
      ok('c', 500),
      JSON.stringify({ id: 'r', custom_id: 'd', response: null, error: { code: 'batch_expired', message: 'expired' } }),
      JSON.stringify({ id: 'r', custom_id: 'e"q', response: { status_code: 200, body: {} }, error: null }),
      '{"id": "r", "custom_id": "f", "response": {"status_code": 200, "body": {}}, "error": null}',
      JSON.stringify({ id: 'r', custom_id: 'g', response: { status_code: 200, body: {} }, error: { code: 'x', message: 'y' } }),
    ]);
    expect([tally.succeeded, tally.failed, tally.unrunLines]).toEqual([2, 2, 1]);
    expect([...tally.resolved].sort()).toEqual(['c', 'e"q', 'f', 'g']);
    expect([...tally.marked]).toEqual(['d']);
  });

  it('collects the id of a success line whose custom_id comes after its response (else it would be resent)', () => {
    const late = JSON.stringify({ id: 'r-h', response: { status_code: 200, body: { choices: [{ message: { content: 'x' } }] } }, custom_id: 'h', error: null });
    const tally = tallyOf([late, ok('i')]);
    expect([tally.succeeded, tally.failed, [...tally.resolved].sort()]).toEqual([2, 0, ['h', 'i']]);
  });

  it('skips lines of whitespace only', () => {
    const tally = tallyOf(['\t', ' \u00a0 ', ok('a')]);
    expect([tally.succeeded, tally.failed]).toEqual([1, 0]);
    expect(() => tally.check()).not.toThrow();
  });

  it('reports a line that is not JSON with RESPONSE_INVALID when checked', async () => {
    const tally = tallyOf([ok('a'), '{"id":"r","custom_id":"b",', ok('c')]);
    expect(tally.succeeded).toBe(2);
    expectKbatchError(await catchError(async () => tally.check()), { code: 'RESPONSE_INVALID', line: 2 });
  });

  it('judges and counts a download the same whether it keeps the lines\' verdicts for the join or not', async () => {
    const lines = [
      JSON.stringify(okLine('a', 'yes')),
      JSON.stringify(okLine('b', ' No. ')),
      JSON.stringify(okLine('c', 'maybe')),
      JSON.stringify(okLine('d', 'y\u00e9s "q"')),
      JSON.stringify({ ...okLine('e', ''), response: { status_code: 200, body: { choices: [{ message: { content: null }, finish_reason: 'stop' }] } } }),
      JSON.stringify(okLine('f', 'no')),
    ];
    const file = join(await mkdtemp(join(tmpdir(), 'kbatch-tally-')), 'part.output.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const judge = lineJudge(createJoinPlan({ labels: ['yes', 'no'] }));
    const tallies = [new ResultTally(true, judge, file), new ResultTally(true, judge)];
    for (const tally of tallies) {
      let offset = 0;
      lines.forEach((line, i) => {
        tally.add(Buffer.from(line), i + 1, 'results/part.output.jsonl', offset);
        offset += Buffer.byteLength(line) + 1;
      });
      await tally.keepVerdicts();
    }
    const facts = (t: ResultTally) => ({ succeeded: t.succeeded, resolved: [...t.resolved], lines: t.verdict!.lines, retry: t.verdict!.retry, notRetried: t.verdict!.notRetried, ids: t.verdict!.ids.toString() });
    expect(facts(tallies[0]!)).toEqual(facts(tallies[1]!));
    // "maybe", the accented answer and the null content are invalid answers, retried.
    expect(facts(tallies[0]!)).toMatchObject({ succeeded: 6, lines: 6, retry: 3 });
    expect(existsSync(verdictFilePath(file))).toBe(true);
  });
});
