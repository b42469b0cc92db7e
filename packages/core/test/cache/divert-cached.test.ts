import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openAnswerCache } from '../../src/cache/answer-cache.js';
import { divertCached } from '../../src/cache/divert-cached.js';
import { requestKey } from '../../src/cache/request-key.js';
import { createRequestBuilder } from '../../src/request/to-batch-request.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const builder = createRequestBuilder({ model: 'm', prompt: 'Review: {{text}}', temperature: 0, maxCompletionTokens: 5 });
const line = (id: string, text: string) => builder.toLine({ index: 1, line: 2, data: { id, text } }).replace('"row-1"', JSON.stringify(id));
const ANSWER = '{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"é \\"ok\\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}';

/** Divert `lines` through a cache holding ANSWER for `stored`'s request: what is passed on, the hits' results, the misses' keys. */
async function divert(stored: string, lines: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-divert-'));
  dirs.push(dir);
  const cache = await openAnswerCache(join(dir, 'cache'));
  cache.put(requestKey({ provider: 'kluster', body: (JSON.parse(stored) as { body: Record<string, unknown> }).body }), ANSWER);
  await cache.flush();
  const d = divertCached({ cache, provider: 'kluster', resultsFile: join(dir, 'results.jsonl'), keysFile: join(dir, 'keys.bin') });
  let passed = '';
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => ((passed += chunk.toString()), cb()) });
  // Cut 7 bytes in: a line split across chunks is read whole.
  const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
  await pipeline(Readable.from([bytes.subarray(0, 7), bytes.subarray(7)]), d.stream, sink);
  const { cached } = await d.finish();
  await cache.close();
  return { cached, passed, results: await readFile(join(dir, 'results.jsonl'), 'utf8'), keys: await readFile(join(dir, 'keys.bin')) };
}

describe('divertCached', () => {
  it('answers a line the fast path cannot read from the entry a rendered line stored, and the other way round', async () => {
    const rendered = line('a', 'é "quoted" 😀');
    const body = (JSON.parse(rendered) as { body: Record<string, unknown> }).body;
    // Same request: an escaped custom_id, other key orders and spaces (read by JSON.parse, keyed canonically).
    const escaped = rendered.replace('"a"', '"b\\"\\u00e9"');
    const reordered = JSON.stringify({ body: { max_completion_tokens: 5.0, messages: [{ content: (body['messages'] as Array<{ content: string }>)[0]!.content, role: 'user' }], temperature: 0, model: 'm' }, url: '/v1/chat/completions', custom_id: 'c', method: 'POST' }, null, 1).replace(/\n/g, '');
    const other = line('d', 'something else');
    for (const stored of [rendered, reordered]) {
      const { cached, passed, results, keys } = await divert(stored, [rendered, escaped, reordered, other]);
      expect(cached).toBe(3);
      expect(passed).toBe(`${other}\n`);
      const expected = ['a', 'b"é', 'c'].map((id) => `${JSON.stringify({ custom_id: id, response: { status_code: 200, body: JSON.parse(ANSWER) } })}\n`);
      expect(results).toBe(expected.join(''));
      expect(keys.equals(requestKey({ provider: 'kluster', body: (JSON.parse(other) as { body: Record<string, unknown> }).body }))).toBe(true);
    }
  });
});
