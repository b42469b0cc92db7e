import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitRequests } from '../../src/chunk/split-requests.js';
import { partLoad } from '../../src/quota/part-load.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
// Odd lines on purpose: escapes, astral characters, keys in another order, a line the fast estimate does not read.
const LINES = [
  JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'plain text' }] } }),
  JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'system', content: 'tab\there "quoted" \\ 😀 é' }, { role: 'user', content: 'x' }] } }),
  JSON.stringify({ body: { messages: [{ content: 'reordered keys', role: 'user' }], model: MODEL }, url: '/v1/chat/completions', method: 'POST', custom_id: 'c' }),
  `{"custom_id":"d","method":"POST","url":"/v1/chat/completions","body":{"model":"${MODEL}","messages":[{"role":"user","content":"\\u00e9t\\u00e9"}],"temperature":0}}`,
];

describe('partLoad', () => {
  it("agrees with the tokens the chunk writer counted as it wrote the chunk (countTokens), reading the file only when the manifest lacks them", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-part-load-'));
    await writeFile(join(dir, 'in.jsonl'), `${LINES.join('\n')}\n`);
    const { chunks } = await splitRequests({ input: join(dir, 'in.jsonl'), outDir: join(dir, 'chunks'), countTokens: true });
    const written = chunks[0]!;
    expect(written.tokens).toBeGreaterThan(0);
    const part = { path: written.path, requests: written.requests };
    expect(await partLoad(dir, part)).toEqual({ tokens: written.tokens, requests: 4, model: MODEL });
    // Known tokens are trusted: only the first line is read, for the model.
    expect(await partLoad(dir, { ...part, promptTokens: 7 })).toEqual({ tokens: 7, requests: 4, model: MODEL });
    // Not asked to count (no limit on the key): unknown tokens stay unknown.
    expect(await partLoad(dir, part, { count: false })).toEqual({ tokens: undefined, requests: 4, model: MODEL });
  });

  it('counts nothing without a budget or countTokens (the chunk writer does no extra work then)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-part-load-'));
    await writeFile(join(dir, 'in.jsonl'), `${LINES.join('\n')}\n`);
    const { chunks } = await splitRequests({ input: join(dir, 'in.jsonl'), outDir: join(dir, 'chunks') });
    expect(chunks[0]!.tokens).toBeUndefined();
  });

  it('counts a line without a model under the empty model, and a line whose messages cannot be read by its size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-part-load-'));
    const odd = ['{"custom_id":"x","body":{"messages":"not a list"}}', '{"custom_id":"y","body":{"messages":[{"role":"user","content":"hi"}]}}'];
    await writeFile(join(dir, 'odd.jsonl'), `${odd.join('\n')}\n`);
    expect(await partLoad(dir, { path: 'odd.jsonl', requests: 2 })).toEqual({ tokens: Math.ceil(odd[0]!.length / 4) + 1 + 4, requests: 2, model: '' });
  });
});
