import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JoinIssue } from '../../src/join/join-issue.js';
import { indexResultFiles } from '../../src/join/result-file-index.js';
import { resultMap } from '../../src/join/result-lookup.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { httpErrorLine, okLine } from './fixtures.js';

/** The worker as built (tsc): the tests run from sources, where there is no worker module beside the index's. */
const worker = new URL('../../dist/join/index-worker.js', import.meta.url);
/** Two threads on files of any size, in segments of ~4 KB. */
const twoThreads = { worker, minBytes: 1, segmentBytes: 4096 };

describe('indexResultFiles', () => {
  it('reports the duplicates read before a broken line, and names a broken duplicate before a later broken line, as it did line by line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-index-'));
    const first = join(dir, 'dup-then-bad.jsonl');
    await writeFile(first, [JSON.stringify(okLine('a', 'one')), JSON.stringify(okLine('a', 'two')), 'not json'].join('\n') + '\n');
    const second = join(dir, 'bad-dup-then-bad.jsonl');
    await writeFile(second, [JSON.stringify(okLine('a', 'one')), JSON.stringify({ custom_id: 'a', response: 7 }), 'not json'].join('\n') + '\n');
    for (const lean of [false, true]) {
      const issues: JoinIssue[] = [];
      const error = await indexResultFiles([first], { lean, onIssue: (i) => issues.push(i) }).catch((e: unknown) => e);
      expect(error).toMatchObject({ line: 3 });
      expect(issues.map((i) => [i.code, i.line])).toEqual([['JOIN_DUPLICATE_RESULT', 2]]);
      expect(await indexResultFiles([second], { lean }).catch((e: unknown) => e)).toMatchObject({ line: 2 });
    }
  });

  it('takes the same results lean (verdicts, no body) as from the lines: escapes, failures, duplicates, long answers, leftovers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-index-'));
    const a = join(dir, 'out.jsonl');
    const b = join(dir, 'err.jsonl');
    const lines = [
      okLine('r1', 'Positive.'),
      okLine('r2', 'say "hi"\n\tthere é 😀'),
      JSON.stringify(okLine('r3', 'spaced')).replace(/":/g, '" : '),
      okLine('r4', 'x'.repeat(6000)),
      okLine('r5', 'yes', { logprobs: { content: [{ token: 'yes', logprob: -0.1, top_logprobs: [] }] } }),
      httpErrorLine('r6', 500),
      okLine('r6', 'late success'),
      okLine('r7', 'first'),
      okLine('r7', 'second'),
      { ...okLine('r8', 'with error'), error: { code: 'x', message: 'boom' } },
      okLine('stray', 'nobody asked'),
      ...Array.from({ length: 1500 }, (_, i) => okLine(`n${i}`, `answer ${i}`)),
    ];
    await writeFile(a, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\r\n') + '\n');
    await writeFile(b, [httpErrorLine('r9', 429)].map((l) => JSON.stringify(l)).join('\n'));
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'missing', 'r1', ...Array.from({ length: 1500 }, (_, i) => `n${1499 - i}`)];
    const runs = [];
    for (const lean of [false, true]) {
      const issues: JoinIssue[] = [];
      const lookup = await indexResultFiles([a, b], { lean, onIssue: (i) => issues.push(i) });
      lookup.prefetch?.(ids.slice(0, 12));
      const taken = ids.map((id) => {
        const result = lookup.take(id);
        return result && { ...result, body: undefined };
      });
      runs.push({ taken, issues, leftovers: [...lookup.leftovers()], size: lookup.size });
      await lookup.close();
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[0]!.taken.slice(0, 9).map((r) => r?.ok)).toEqual([true, true, true, true, true, true, true, false, false]);
    expect(runs[0]!.leftovers).toEqual([{ customId: 'stray', file: a, line: 11 }]);
  });

  it('takes the same results with the next ids looked up ahead as one by one: repeated, missing, unicode, escaped, failed ids and takes out of order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-index-'));
    const file = join(dir, 'out.jsonl');
    const odd = ['é-1', 'q"uote', 'tab\tid', '😀'];
    const lines = [
      ...Array.from({ length: 400 }, (_, i) => (i % 9 === 4 ? httpErrorLine(`n${i}`, 500) : okLine(`n${i}`, `answer ${i}`))),
      ...odd.map((id) => okLine(id, `for ${id}`)),
      okLine('n7', 'a duplicate'),
    ].reverse();
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const ids = [...odd, ...Array.from({ length: 400 }, (_, i) => `n${i}`), 'n5', 'missing', 'n399'];
    const runs = [];
    for (const ahead of [false, true]) {
      const lookup = await indexResultFiles([file], { lean: true });
      // Looked up ahead in windows, one of them out of step with the takes (ids 200.. are taken two late).
      const taken = [];
      for (let from = 0; from < ids.length; from += 150) {
        const window = ids.slice(from, from + 150);
        if (ahead) lookup.prefetch?.(from === 150 ? ids.slice(from + 2, from + 152) : window);
        for (const id of window) taken.push(lookup.take(id));
      }
      runs.push({ taken, leftovers: [...lookup.leftovers()], size: lookup.size });
      await lookup.close();
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[0]!.taken.slice(0, 4).map((r) => r?.response)).toEqual(odd.map((id) => `for ${id}`));
    expect(runs[0]!.taken.slice(-3)).toEqual([undefined, undefined, undefined]);
    expect(runs[0]!.taken.filter((r) => r?.ok === false)).toHaveLength(44);
  });

  it('keeps the same line of each repeated custom_id as the in-memory lookup, across files and blocks of lines, lean or not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-index-'));
    // 3,000 lines over 1,700 ids (some non-ASCII), a third of them failures: most ids repeat, near and far apart.
    const lines = Array.from({ length: 3000 }, (_, i) => {
      const id = `k${(i * 7919) % 1700}${i % 11 === 0 ? 'é' : ''}`;
      return JSON.stringify(i % 3 === 0 ? httpErrorLine(id, 500) : okLine(id, `a${i}`));
    });
    const files = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
    await writeFile(files[0]!, lines.slice(0, 2000).join('\n') + '\n');
    await writeFile(files[1]!, lines.slice(2000).join('\n') + '\n');
    const ids = Array.from({ length: 1700 }, (_, i) => [`k${i}`, `k${i}é`]).flat();
    const mapIssues: string[] = [];
    const mapKept: string[] = [];
    const map = await resultMap(lines, (i) => mapIssues.push(i.customId!) && mapKept.push(i.message.split('; ')[1]!));
    const expected = ids.map((id) => map.take(id)).map((r) => r && { ...r, body: undefined });
    for (const lean of [false, true]) {
      const issues: JoinIssue[] = [];
      const lookup = await indexResultFiles(files, { lean, onIssue: (i) => issues.push(i) });
      expect(lookup.size).toBe(map.size + expected.filter((r) => r !== undefined).length);
      expect(ids.map((id) => lookup.take(id)).map((r) => r && { ...r, body: undefined })).toEqual(expected);
      expect(issues.map((i) => i.customId)).toEqual(mapIssues);
      expect(issues.map((i) => i.message.split('; ')[1])).toEqual(mapKept);
      expect([...lookup.leftovers()]).toEqual([]);
      await lookup.close();
    }
  });

  describe('on two threads', () => {
    it('has its worker built (pnpm build)', () => {
      expect(existsSync(fileURLToPath(worker))).toBe(true);
    });

    it('builds the same lookup as one thread: takes, kept duplicates across segments and files, issues with their line numbers, leftovers', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kbatch-index-'));
      // 3,000 lines over 1,700 ids (some non-ASCII, some with a long answer), a third failures, blank and CRLF lines.
      const lines = Array.from({ length: 3000 }, (_, i) => {
        const id = `k${(i * 7919) % 1700}${i % 11 === 0 ? 'é' : ''}`;
        return JSON.stringify(i % 3 === 0 ? httpErrorLine(id, 500) : okLine(id, i % 97 === 0 ? 'x'.repeat(3000) : `a${i}`));
      });
      const files = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
      await writeFile(files[0]!, lines.slice(0, 2000).join('\r\n') + '\n\n' + JSON.stringify(okLine('stray', 'nobody asked')) + '\n');
      await writeFile(files[1]!, lines.slice(2000).join('\n'));
      const ids = Array.from({ length: 1700 }, (_, i) => [`k${i}`, `k${i}é`]).flat();
      const runs = [];
      for (const parallel of [false, twoThreads, { ...twoThreads, workerOnly: true }]) {
        for (const lean of [false, true]) {
          const issues: JoinIssue[] = [];
          const lookup = await indexResultFiles(files, { lean, parallel, onIssue: (i) => issues.push(i) });
          lookup.prefetch?.(ids.slice(0, 500));
          const taken = ids.map((id) => lookup.take(id)).map((r) => r && { ...r, body: undefined });
          runs.push({ lean, taken, issues, leftovers: [...lookup.leftovers()], size: lookup.size });
          await lookup.close();
        }
      }
      expect(runs[2]).toEqual(runs[0]);
      expect(runs[3]).toEqual(runs[1]);
      expect(runs[4]).toEqual(runs[0]);
      expect(runs[5]).toEqual(runs[1]);
      expect(runs[0]!.issues.length).toBeGreaterThan(1000);
      expect(runs[2]!.leftovers).toEqual([{ customId: 'stray', file: files[0], line: 2002 }]);
    });

    it('reports a line without a custom_id that the worker read as RESPONSE_INVALID with its line number in the file, after the duplicates before it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kbatch-index-'));
      const file = join(dir, 'bad.jsonl');
      const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify(okLine(`n${i % 300}`, `a${i}`)));
      lines.splice(350, 0, '{"custom_id": null}', 'not json');
      await writeFile(file, lines.join('\n') + '\n');
      for (const [lean, workerOnly] of [[false, false], [true, false], [false, true], [true, true]]) {
        const issues: JoinIssue[] = [];
        const error = await catchError(() => indexResultFiles([file], { lean, parallel: { ...twoThreads, workerOnly }, onIssue: (i) => issues.push(i) }));
        expectKbatchError(error, { code: 'RESPONSE_INVALID', file, line: 351, message: `${file}:351 is not a batch result (custom_id is missing)` });
        expect(issues.map((i) => i.line)).toEqual(Array.from({ length: 50 }, (_, i) => 301 + i));
      }
    });
  });
});
