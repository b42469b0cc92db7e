import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JoinIssue } from '../../src/join/join-issue.js';
import { indexResultFiles } from '../../src/join/result-file-index.js';
import { resultMap } from '../../src/join/result-lookup.js';
import { httpErrorLine, okLine } from './fixtures.js';

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
});
