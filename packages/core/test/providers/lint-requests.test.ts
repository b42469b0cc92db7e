import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertLintClean, hasLineRules, lintLine, lintRequests, lintRules, newLintState, type LintRules } from '../../src/providers/lint-requests.js';
import { getProvider } from '../../src/providers/resolve-provider.js';
import { estimateLineTokens } from '../../src/chunk/line-tokens.js';
import { planChunk } from '../../src/chunk/plan-chunk.js';
import { splitRequests } from '../../src/chunk/split-requests.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const line = (id: string, model = 'm1', extra = ''): string => `{"custom_id":${JSON.stringify(id)},"method":"POST","url":"/v1/chat/completions","body":{"model":"${model}","messages":[{"role":"user","content":"hi${extra}"}]}}`;

function lintAll(lines: string[], rules: LintRules) {
  const state = newLintState();
  return lines.flatMap((text, i) => lintLine(text, i + 1, state, rules));
}

async function file(lines: string[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'kbatch-lint-')), 'requests.jsonl');
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

describe('lintLine', () => {
  it('flags a second model on openai (one model per file) with line and custom_id, but not on kluster', () => {
    const lines = [line('a'), line('b', 'm2'), line('c')];
    expect(lintAll(lines, lintRules(getProvider('openai')))).toEqual([
      { line: 2, customId: 'b', rule: 'mixed_models', message: 'uses model m2 but line 1 uses m1: provider openai takes one model per file' },
    ]);
    expect(lintAll(lines, lintRules(getProvider('kluster')))).toEqual([]);
  });

  it('flags malformed lines, a missing or repeated custom_id, and a missing model', () => {
    const problems = lintAll(['{not json', '[1]', '{"body":{"model":"m"}}', line('a'), line('a'), '{"custom_id":"z","body":{}}'], lintRules(getProvider('kluster')));
    expect(problems.map((p) => [p.line, p.rule])).toEqual([
      [1, 'line_invalid'],
      [2, 'line_invalid'],
      [3, 'custom_id_missing'],
      [5, 'custom_id_duplicate'],
      [6, 'line_invalid'],
    ]);
  });

  it('flags the request past maxRequests and the line that takes the file past maxBytes, once each', () => {
    const rules = { ...lintRules(getProvider('openai'), { maxRequests: 2, maxBytes: 2 * (line('a').length + 1) + 5 }) };
    const problems = lintAll([line('a'), line('b'), line('c'), line('d')], rules);
    expect(problems.map((p) => [p.line, p.rule])).toEqual([
      [3, 'too_many_requests'],
      [3, 'file_too_large'],
    ]);
  });

  it('flags a line over the per-line limit and a custom_id outside the pattern where a profile has them', () => {
    const rules: LintRules = { ...lintRules(getProvider('kluster')), maxLineBytes: 150, customIdPattern: /^[a-z]+$/ };
    const problems = lintAll([line('ok'), line('BAD'), line('long', 'm1', 'x'.repeat(100))], rules);
    expect(problems.map((p) => [p.line, p.customId, p.rule])).toEqual([
      [2, 'BAD', 'custom_id_invalid'],
      [3, 'long', 'line_too_large'],
    ]);
  });

  it("counts a file's raw bytes (CRLF line ends, blank lines): a file just over maxBytes fails however its lines end", async () => {
    const lines = [line('a'), line('b')];
    const path = await file([]);
    const raw = `${lines.join('\r\n')}\r\n\n\n`;
    await writeFile(path, raw);
    const size = Buffer.byteLength(raw);
    const over = await lintRequests(path, lintRules(getProvider('kluster'), { maxBytes: size - 1 }));
    expect([over.bytes, over.problems.map((p) => [p.line, p.rule])]).toEqual([size, [[null, 'file_too_large']]]);
    expect(over.problems[0]!.message).toBe(`is ${size} bytes; provider kluster takes at most ${size - 1} per batch`);
    expect((await lintRequests(path, lintRules(getProvider('kluster'), { maxBytes: size }))).problemCount).toBe(0);
  });

  it('remembers each custom_id as a fixed-size hash, however long the id (memory per id is constant)', () => {
    const state = newLintState();
    const rules = lintRules(getProvider('kluster'));
    const long = 'x'.repeat(10_000);
    expect(lintAll([line(long), line('a')], rules)).toEqual([]);
    lintLine(line(long), 1, state, rules);
    lintLine(line('a'), 2, state, rules);
    expect(lintLine(line(long), 3, state, rules).map((p) => p.rule)).toEqual(['custom_id_duplicate']);
    expect([...state.ids].map((h) => h.length)).toEqual([16, 16]);
  });

  it('counts bytes in UTF-8 (non-ASCII is more than one byte)', () => {
    const state = newLintState();
    lintLine(line('é'), 1, state, lintRules(getProvider('kluster')));
    expect(state.bytes).toBe(Buffer.byteLength(line('é')) + 1);
  });
});

describe('lintLine under a token budget (maxBatchTokens)', () => {
  const said = (content: string, id = 'r') => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'm1', messages: [{ role: 'user', content }] } });
  // Odd lines: escapes, unicode (4-byte too), keys in another order (the estimate's slow path), several messages.
  const ODD = [
    said('x'.repeat(396)),
    said('x'.repeat(397)),
    said('"quoted" \\ \n tab\t'.repeat(30)),
    said('é😀日本'.repeat(60)),
    JSON.stringify({ body: { messages: [{ content: 'y'.repeat(400), role: 'user' }], model: 'm1' }, custom_id: 'reordered', url: '/v1/chat/completions', method: 'POST' }),
    JSON.stringify({ custom_id: 'many', method: 'POST', url: '/v1/chat/completions', body: { model: 'm1', messages: [{ role: 'system', content: 'z'.repeat(200) }, { role: 'user', content: 'z'.repeat(190) }] } }),
  ];

  it("flags a line over the budget on its own exactly where the chunker's planChunk refuses it, naming its tokens and the budget", () => {
    const budget = 103;
    const rules = lintRules(getProvider('kluster'), { maxBatchTokens: budget });
    for (const text of ODD) {
      const tokens = estimateLineTokens(Buffer.from(text));
      const refused = planChunk({ requests: 0, bytes: 0 }, Buffer.byteLength(text) + 1, { maxRequests: 10, maxBytes: 1e9, maxBatchTokens: budget }, tokens) === 'line-over-token-budget';
      const problems = lintLine(text, 7, newLintState(), rules).filter((p) => p.rule === 'line_over_token_budget');
      expect(problems.length, `${text.slice(0, 60)}: ${tokens} tokens`).toBe(refused ? 1 : 0);
      if (refused) expect(problems[0]!.message).toContain(`is an estimated ${tokens} prompt tokens, more than the batch token budget of ${budget}`);
    }
    expect(ODD.filter((text) => estimateLineTokens(Buffer.from(text)) > budget).length).toBeGreaterThan(1);
    expect(ODD.filter((text) => estimateLineTokens(Buffer.from(text)) <= budget).length).toBeGreaterThan(0);
  });

  it('flags once the line that brings the file past the budget, and a line whose tokens cannot be estimated; nothing without a budget', () => {
    const rules = lintRules(getProvider('kluster'), { maxBatchTokens: 250 });
    const lines = [said('x'.repeat(400), 'a'), said('x'.repeat(400), 'b'), said('x'.repeat(400), 'c'), JSON.stringify({ custom_id: 'd', body: { model: 'm1', prompt: 'p' } })];
    expect(lintAll(lines, rules).map((p) => [p.line, p.customId, p.rule])).toEqual([
      [3, 'c', 'file_over_token_budget'],
      [4, 'd', 'line_invalid'],
    ]);
    expect(lintAll(lines, rules)[0]!.message).toBe('brings the file to an estimated 312 prompt tokens, past the batch token budget of 250 (--max-batch-tokens): split it (kbatch split --max-batch-tokens 250)');
    expect(lintAll(lines, lintRules(getProvider('kluster')))).toEqual([]);
    expect(hasLineRules(lintRules(getProvider('kluster'), { maxBatchTokens: 250 }))).toBe(true);
  });

  it("passes every chunk kbatch's splitter makes under the same budget (lint and chunker agree)", async () => {
    const input = await file([...ODD.filter((text) => estimateLineTokens(Buffer.from(text)) <= 130).map((text, i) => text.replace(/"custom_id":"[^"]*"/, `"custom_id":"odd${i}"`)), ...Array.from({ length: 9 }, (_, i) => said('w'.repeat(100 + 40 * i), `w${i}`))]);
    const outDir = await mkdtemp(join(tmpdir(), 'kbatch-lint-split-'));
    const { chunks } = await splitRequests({ input, outDir, maxBatchTokens: 130 });
    expect(chunks.length).toBeGreaterThan(3);
    const rules = lintRules(getProvider('kluster'), { maxBatchTokens: 130 });
    for (const chunk of chunks) expect((await lintRequests(chunk.path, rules)).problems).toEqual([]);
  });
});

describe('lintRequests', () => {
  it('streams a file and reports every problem with its line, and the file size', async () => {
    const path = await file([line('a'), line('b', 'm2'), '', line('c', 'm3')]);
    const report = await lintRequests(path, lintRules(getProvider('openai')));
    expect(report.problems.map((p) => [p.line, p.customId])).toEqual([
      [2, 'b'],
      [4, 'c'],
    ]);
    expect([report.requests, report.problemCount]).toEqual([3, 2]);
  });

  it('runs the native adapter\'s check on every line on gemini (one param_unsupported per line), so lint and submit refuse line 13 before any upload', async () => {
    const gemini = (id: string, extra: object = {}): string => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'x' }], ...extra } });
    const lines = [...Array.from({ length: 12 }, (_, i) => gemini(`r${i}`)), gemini('r-role', { messages: [{ role: 'tool', content: 'x' }] }), gemini('r-format', { response_format: { type: 'json_schema' } }), gemini('r-tools', { tools: [] })];
    const path = await file(lines);
    const rules = lintRules(getProvider('gemini'));
    const report = await lintRequests(path, rules);
    expect(report.problems.map((p) => [p.line, p.customId, p.rule])).toEqual([
      [13, 'r-role', 'param_unsupported'],
      [14, 'r-format', 'param_unsupported'],
      [15, 'r-tools', 'param_unsupported'],
    ]);
    expect(report.problems[0]!.message).toMatch(/Parameter `messages\[0\]\.role` is not supported by provider gemini/);
    expect(report.problems[2]!.message).toBe('sets `tools`, which provider gemini does not support');
    expect(hasLineRules({ ...rules, oneModelPerFile: false, unsupportedParams: [] })).toBe(true);
    expectKbatchError(await catchError(() => assertLintClean([path], rules)), { code: 'LINT_FAILED', message: /3 request line problems for provider gemini; nothing was uploaded:\n.*line 13 \(custom_id r-role\)/ });
    expect(lintAll(lines.slice(0, 12), rules)).toEqual([]);
  });

  it('rejects a missing file with INPUT_NOT_FOUND', async () => {
    expectKbatchError(await catchError(() => lintRequests('/nonexistent/requests.jsonl', lintRules(getProvider()))), { code: 'INPUT_NOT_FOUND' });
  });
});

describe('assertLintClean', () => {
  it("passes clean files and refuses those breaking the profile's rules with LINT_FAILED naming line and custom_id", async () => {
    await assertLintClean([await file([line('a'), line('b')])], lintRules(getProvider('openai')));
    // Malformed lines and repeated ids are the server's to report (its validation is free and names each line).
    await assertLintClean([await file(['{not json', line('a'), line('a')])], lintRules(getProvider('openai')));
    const bad = await file([line('a'), line('b', 'gpt-x')]);
    const err = await catchError(() => assertLintClean([bad], lintRules(getProvider('openai'))));
    expectKbatchError(err, { code: 'LINT_FAILED', message: `${bad} line 2 (custom_id b): uses model gpt-x` });
  });
});

describe('assertLintClean under a token budget', () => {
  it('refuses a line whose tokens cannot be estimated (no body.messages), as lint and the chunker do: no server checks the budget', async () => {
    const unknown = await file([JSON.stringify({ custom_id: 'p', method: 'POST', url: '/v1/chat/completions', body: { model: 'm1', prompt: 'x'.repeat(4000) } }), line('a')]);
    const err = await catchError(() => assertLintClean([unknown], lintRules(getProvider('openai'), { maxBatchTokens: 100 })));
    expectKbatchError(err, { code: 'LINT_FAILED', message: `${unknown} line 1 (custom_id p): has no body.messages list, so its tokens cannot be estimated` });
    // Without a budget the line is the server's to judge, as before.
    await assertLintClean([unknown], lintRules(getProvider('openai')));
    // A malformed line stays the server's to report under a budget too.
    await assertLintClean([await file(['{not json', line('a')])], lintRules(getProvider('openai'), { maxBatchTokens: 100 }));
  });
});

describe('assertLintClean without rules on lines (kluster)', () => {
  it('judges only the batch limits, so kbatch submit need not parse the file; openai judges lines', () => {
    expect(hasLineRules(lintRules(getProvider('kluster')))).toBe(false);
    expect(hasLineRules(lintRules(getProvider('kluster-2025')))).toBe(false);
    expect(hasLineRules(lintRules(getProvider('openai')))).toBe(true);
    expect(hasLineRules(lintRules(getProvider('together')))).toBe(true);
  });

  // The unparsed bound must agree with the full lint: never pass what it refuses, on CRLF, blank lines, a last line without newline.
  it('agrees with the full lint at and over the request and byte limits, whatever the line ends', async () => {
    const kluster = getProvider('kluster');
    for (const [sep, tail] of [['\n', '\n'], ['\n', ''], ['\r\n', '\r\n'], ['\n\n', ''], ['\r', '\n\n']] as const) {
      for (const n of [3, 4]) {
        const path = await file([]);
        const raw = `${Array.from({ length: n }, (_, i) => line(`id${i}`)).join(sep)}${tail}`;
        await writeFile(path, raw);
        for (const rules of [lintRules(kluster, { maxRequests: 3 }), lintRules(kluster, { maxBytes: Buffer.byteLength(raw) - 1 }), lintRules(kluster, { maxBytes: Buffer.byteLength(raw), maxRequests: n })]) {
          const full = (await lintRequests(path, rules, { profileOnly: true })).problemCount;
          const err = await assertLintClean([path], rules).then(() => null, (e: unknown) => e);
          expect(err === null ? 0 : 1, JSON.stringify([sep, n, rules.maxRequests, rules.maxBytes])).toBe(full === 0 ? 0 : 1);
          if (err !== null) expectKbatchError(err, { code: 'LINT_FAILED' });
        }
      }
    }
  });
});

