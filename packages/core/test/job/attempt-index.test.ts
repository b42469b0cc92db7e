import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attemptLookup } from '../../src/job/attempt-index.js';
import { latestResults, type AttemptSource } from '../../src/job/attempts.js';
import type { JoinIssue } from '../../src/join/join-issue.js';
import { httpErrorLine, okLine } from '../join/fixtures.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { ResultTally } from '../../src/job/result-tally.js';
import { lineJudge } from '../../src/run/failure-cause.js';
import { createJoinPlan } from '../../src/join/join-plan.js';
import { verdictFilePath } from '../../src/join/verdict-file.js';

/** Tally result file `rel` as a run's download does (judged, verdicts kept beside it when every line is usual). */
async function downloaded(jobDir: string, rel: string): Promise<boolean> {
  const file = join(jobDir, rel);
  const bytes = await readFile(file);
  const tally = new ResultTally(true, lineJudge(createJoinPlan({ labels: ['yes', 'no'] })), file);
  let start = 0;
  let n = 0;
  for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, start)) {
    tally.add(bytes.subarray(start, nl), ++n, rel, start);
    start = nl + 1;
  }
  await tally.keepVerdicts();
  return existsSync(verdictFilePath(file));
}

/** A job directory with result files (job-relative names → lines). */
async function jobWith(files: Record<string, unknown[]>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-attempts-'));
  for (const [name, lines] of Object.entries(files)) await writeFile(join(dir, name), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return dir;
}

const expiredLine = (id: string) => ({ id: `x-${id}`, custom_id: id, response: null, error: { code: 'batch_expired', message: 'expired' } });

describe('attemptLookup', () => {
  it('counts the usage of a taken line that is no answer (a 200 without choices), which the join\'s report does not', async () => {
    const empty = { id: 'r', custom_id: 'e1', response: { status_code: 200, body: { choices: [], usage: { prompt_tokens: 50, completion_tokens: 0 } } }, error: null };
    const jobDir = await jobWith({ 'out.jsonl': [empty] });
    const tokens = { prompt: 0, completion: 0 };
    const lookup = await attemptLookup(jobDir, [[{ files: ['out.jsonl'], resubmitted: false }]], { tokens });
    try {
      expect(lookup.take('e1')?.ok).toBe(false);
      expect(tokens).toEqual({ prompt: 50, completion: 0 });
    } finally {
      await lookup.close();
    }
  });

  it('refuses a result file replaced after it was indexed, rather than joining a record with another one\'s result', async () => {
    const jobDir = await jobWith({ 'out.jsonl': [okLine('a1', 'yes'), okLine('b1', 'no')] });
    const lookup = await attemptLookup(jobDir, [[{ files: ['out.jsonl'], resubmitted: false }]], { tokens: { prompt: 0, completion: 0 } });
    try {
      // Same lengths, swapped order: every indexed offset now starts the other request's line.
      await writeFile(join(jobDir, 'out.next'), [okLine('b1', 'no'), okLine('a1', 'yes')].map((l) => JSON.stringify(l)).join('\n') + '\n');
      await rename(join(jobDir, 'out.next'), join(jobDir, 'out.jsonl'));
      expectKbatchError(await catchError(async () => lookup.take('a1')), { code: 'RESPONSE_INVALID', customId: 'a1' });
    } finally {
      await lookup.close();
    }
  });

  it('gives each request its latest attempt, reads the line in place, counts every line read once for tokens', async () => {
    const jobDir = await jobWith({
      'first.jsonl': [okLine('r1', 'maybe'), okLine('r2', 'yes'), expiredLine('r4')],
      'resubmit.jsonl': [okLine('r4', 'no')],
      'retry.jsonl': [okLine('r1', 'no'), httpErrorLine('r3', 500), okLine('r3', 'yes'), okLine('stray', 'yes')],
    });
    const groups: AttemptSource[][] = [
      [
        { files: ['first.jsonl'], resubmitted: true },
        { files: ['resubmit.jsonl'], resubmitted: false },
      ],
      [{ files: ['retry.jsonl'], resubmitted: false }],
    ];
    const tokens = { prompt: 0, completion: 0 };
    const issues: JoinIssue[] = [];
    const lookup = await attemptLookup(jobDir, groups, { tokens, onIssue: (i) => issues.push(i) });
    try {
      expect(lookup.size).toBe(5);
      expect(lookup.take('r1')?.response).toBe('no');
      expect(lookup.take('r2')?.response).toBe('yes');
      expect(lookup.take('r3')).toMatchObject({ ok: true, response: 'yes' });
      expect(lookup.take('r4')?.response).toBe('no');
      expect(lookup.take('r4')).toBeUndefined();
      expect([...lookup.leftovers()]).toEqual([{ customId: 'stray', file: join(jobDir, 'retry.jsonl'), line: 4 }]);
    } finally {
      await lookup.close();
    }
    expect(issues).toEqual([expect.objectContaining({ code: 'JOIN_DUPLICATE_RESULT', customId: 'r3', line: 3, message: expect.stringContaining('kept the later one') })]);
    // The lines no record took: the superseded "maybe" and the stray (10 + 2 tokens each); taken ones are the join's.
    expect(tokens).toEqual({ prompt: 20, completion: 4 });
  });

  it('gives the same results, issues, leftovers and token counts from the verdicts a download kept as from the lines', async () => {
    const jobDir = await jobWith({
      'first.jsonl': [okLine('r1', 'maybe'), okLine('r2', 'y\u00e9s "q"'), okLine('r4', 'no'), okLine('r5', 'x'.repeat(3000)), okLine('r6', '')],
      'errors.jsonl': [httpErrorLine('r7', 500)],
      'retry.jsonl': [okLine('r1', 'no'), okLine('r3', 'yes'), okLine('r3', 'again'), okLine('stray', 'yes'), okLine('r7', 'yes'), okLine('p1', 'no')],
    });
    // Every line usual: kept; a failure (or a line too long to keep) is not.
    expect(await Promise.all(['first.jsonl', 'errors.jsonl', 'retry.jsonl'].map((f) => downloaded(jobDir, f)))).toEqual([false, false, true]);
    await writeFile(join(jobDir, 'plain.jsonl'), [okLine('p1', 'yes'), okLine('p2', 'no')].map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(await downloaded(jobDir, 'plain.jsonl')).toBe(true);
    const groups: AttemptSource[][] = [
      [{ files: ['first.jsonl', 'errors.jsonl', 'plain.jsonl'], resubmitted: false }],
      [{ files: ['retry.jsonl'], resubmitted: false }],
    ];
    const joined = async () => {
      const tokens = { prompt: 0, completion: 0 };
      const issues: JoinIssue[] = [];
      const lookup = await attemptLookup(jobDir, groups, { tokens, lean: true, onIssue: (i) => issues.push(i) });
      try {
        const taken = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'p1', 'p2', 'r3'].map((id) => {
          const result = lookup.take(id);
          return result && { ...result, body: undefined };
        });
        return { taken, leftovers: [...lookup.leftovers()], issues, tokens };
      } finally {
        await lookup.close();
      }
    };
    const fromVerdicts = await joined();
    // The superseded p1 (a kept verdict) counts its tokens, as the line would.
    expect(fromVerdicts.tokens.prompt).toBeGreaterThan(0);
    await rm(verdictFilePath(join(jobDir, 'retry.jsonl')));
    await rm(verdictFilePath(join(jobDir, 'plain.jsonl')));
    const fromLines = await joined();
    expect(fromVerdicts).toEqual(fromLines);
    expect(fromVerdicts.taken.map((r) => r?.response)).toEqual(['no', 'y\u00e9s "q"', 'yes', 'no', 'x'.repeat(3000), '', 'yes', 'no', 'no', undefined]);
    expect(fromVerdicts.leftovers).toEqual([{ customId: 'stray', file: join(jobDir, 'retry.jsonl'), line: 4 }]);
  });

  it('gives the same results, issues and token counts lean (verdicts read once, no body) as from the lines', async () => {
    const jobDir = await jobWith({
      'first.jsonl': [okLine('r1', 'maybe'), okLine('r2', 'y\u00e9s "q"'), expiredLine('r4'), okLine('r5', 'x'.repeat(5000))],
      'resubmit.jsonl': [okLine('r4', 'no')],
      'retry.jsonl': [okLine('r1', 'no'), httpErrorLine('r3', 500), okLine('r3', 'yes'), okLine('r3', 'again'), okLine('stray', 'yes')],
    });
    const groups: AttemptSource[][] = [
      [
        { files: ['first.jsonl'], resubmitted: true },
        { files: ['resubmit.jsonl'], resubmitted: false },
      ],
      [{ files: ['retry.jsonl'], resubmitted: false }],
    ];
    const runs = [];
    for (const lean of [false, true]) {
      const tokens = { prompt: 0, completion: 0 };
      const issues: JoinIssue[] = [];
      const lookup = await attemptLookup(jobDir, groups, { tokens, lean, onIssue: (i) => issues.push(i) });
      const taken = ['r1', 'r2', 'r3', 'r4', 'r5', 'r4'].map((id) => {
        const result = lookup.take(id);
        return result && { ...result, body: undefined };
      });
      const leftovers = [...lookup.leftovers()];
      await lookup.close();
      runs.push({ taken, leftovers, issues, tokens });
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[0]!.taken.map((r) => r?.response)).toEqual(['no', 'y\u00e9s "q"', 'yes', 'no', 'x'.repeat(5000), undefined]);
  });

  it('finds every one of thousands of requests past any size estimate, with duplicates and failures among them, lean or not', async () => {
    const n = 5000;
    const lines = Array.from({ length: n }, (_, i) => (i % 7 === 3 ? httpErrorLine(`r${i}`, 500) : okLine(`r${i}`, `a${i}`)));
    // Reversed, the file opens with duplicates: r0 fails then succeeds (the later success wins), r3 succeeds then fails (the success stays).
    lines.push(okLine('r3', 'again'), httpErrorLine('r0', 500));
    const jobDir = await jobWith({ 'out.jsonl': lines.reverse() });
    const runs = [];
    for (const [lean, expected] of [[false, undefined], [true, 10], [true, n]] as const) {
      const issues: JoinIssue[] = [];
      const tokens = { prompt: 0, completion: 0 };
      const lookup = await attemptLookup(jobDir, [[{ files: ['out.jsonl'], resubmitted: false }]], { tokens, lean, ...(expected ? { expected } : {}), onIssue: (i) => issues.push(i) });
      expect(lookup.size).toBe(n);
      // Lean, the ids are also looked up ahead (see `LookupAhead`), in windows as the join does: the same results.
      const order = Array.from({ length: n }, (_, i) => `r${n - 1 - i}`);
      const taken = order.map((id, i) => (lean && i % 1000 === 0 && lookup.prefetch?.(order.slice(i, i + 1000)), lookup.take(id))).map((r) => [r?.customId, r?.ok, r?.response]);
      expect(lookup.take('r1')).toBeUndefined();
      expect([...lookup.leftovers()]).toEqual([]);
      await lookup.close();
      runs.push({ taken, issues: issues.map((i) => [i.code, i.customId]), tokens });
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
    expect(runs[0]!.taken.slice(-4)).toEqual([['r3', true, 'again'], ['r2', true, 'a2'], ['r1', true, 'a1'], ['r0', true, 'a0']]);
    expect(runs[0]!.issues).toEqual([['JOIN_DUPLICATE_RESULT', 'r3'], ['JOIN_DUPLICATE_RESULT', 'r0']]);
  });

  it('leaves out requests joined already and results of other chunks in a merged retry batch', async () => {
    const jobDir = await jobWith({
      'merged.jsonl': [okLine('a1', 'yes'), okLine('b1', 'yes'), okLine('a2', 'no')],
      'requests-a.jsonl': [{ custom_id: 'a1' }, { custom_id: 'a2' }],
    });
    const tokens = { prompt: 0, completion: 0 };
    const lookup = await attemptLookup(jobDir, [[{ files: ['merged.jsonl'], resubmitted: false, only: 'requests-a.jsonl' }]], { tokens, skip: new Set(['a1']) });
    expect(lookup.size).toBe(1);
    expect(lookup.take('a2')?.response).toBe('no');
    await lookup.close();
    expect(tokens).toEqual({ prompt: 0, completion: 0 });
  });
});

describe('latestResults', () => {
  it('parses each winning line once, newest attempt first', async () => {
    const jobDir = await jobWith({ 'a.jsonl': [httpErrorLine('r1', 503), okLine('r2', 'yes')], 'b.jsonl': [okLine('r1', 'no')] });
    const seen: Array<[string, boolean]> = [];
    await latestResults(jobDir, [[{ files: ['a.jsonl'], resubmitted: false }], [{ files: ['b.jsonl'], resubmitted: false }]], (r) => seen.push([r.customId, r.ok]));
    expect(seen).toEqual([
      ['r1', true],
      ['r2', true],
    ]);
  });
});
