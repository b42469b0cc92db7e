import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitRequests, type ChunkInfo } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { scanFile } from '../../src/job/lines.js';
import { IdDigest } from '../../src/job/part-verdict.js';
import { byteStream, tempDir, tempFile } from '../helpers/inputs.js';

const line = (id: string, text = 'x') => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: text }] } });

describe('splitRequests', () => {
  it('splits a file of request lines, reporting each chunk as it completes', async () => {
    const input = await tempFile('requests.jsonl', [line('a'), line('b', 'é😀'), line('c')].join('\n') + '\n');
    const outDir = join(await tempDir(), 'chunks');
    const seen: ChunkInfo[] = [];
    const summary = await splitRequests({ input, outDir, maxRequests: 2, onChunk: (c) => seen.push(c) });
    expect(summary.requests).toBe(3);
    expect(summary.bytes).toBe((await readFile(input)).length);
    expect(seen).toEqual(summary.chunks);
    expect(await readFile(summary.chunks[0]!.path, 'utf8')).toBe(`${line('a')}\n${line('b', 'é😀')}\n`);
    expect(summary.chunks[1]).toMatchObject({ index: 2, requests: 1, firstCustomId: 'c' });
  });

  it('gives each chunk the sha256 of the bytes it wrote, measured while writing', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => line(`r${i}`, 'é'.repeat(i % 300)));
    const input = await tempFile('many.jsonl', lines.join('\n'));
    const outDir = join(await tempDir(), 'chunks');
    const digests: string[] = [];
    const { chunks } = await splitRequests({ input, outDir, maxRequests: 2000, onChunk: (_c, { sha256 }) => digests.push(sha256) });
    expect(digests).toEqual(await Promise.all(chunks.map(async (c) => (await scanFile(c.path)).sha256)));
    expect(chunks.map((c) => c.requests)).toEqual([2000, 2000, 1000]);
  });

  it('gives each chunk the digest of its custom_ids, or none when one is escaped or not the first key', async () => {
    const ids = ['a', 'é', '日本', '😀', 'a b', 'x/y'];
    const escaped = JSON.stringify({ custom_id: 'q"1', method: 'POST' });
    const later = JSON.stringify({ method: 'POST', custom_id: 'k' });
    const input = await tempFile('ids.jsonl', [...ids.map((id) => line(id)), escaped, line('z'), later].join('\n'));
    const outDir = join(await tempDir(), 'chunks');
    const digests: (string | undefined)[] = [];
    await splitRequests({ input, outDir, maxRequests: 6, onChunk: (_c, { ids: digest }) => digests.push(digest) });
    const expected = new IdDigest();
    for (const id of ids) expected.addText(id);
    expect(digests).toEqual([expected.toString(), undefined]);
  });

  it('reads stdin in small pieces, drops blank lines and a \\r before \\n, adds a missing final newline', async () => {
    const text = `${line('a')}\r\n\n${line('b')}`;
    const outDir = await tempDir();
    const { chunks } = await splitRequests({ input: '-', stdin: byteStream(text, 7), outDir });
    expect(await readFile(chunks[0]!.path, 'utf8')).toBe(`${line('a')}\n${line('b')}\n`);
  });

  it('refuses a line that is not a JSON object with LINE_INVALID naming the line', async () => {
    const err = await catchError(() => splitRequests({ input: '-', stdin: byteStream(`${line('a')}\nnot json\n`), outDir: '/tmp/kbatch-never' }));
    expectKbatchError(err, { code: 'LINE_INVALID', line: 2, file: '-' });
  });

  it('fails with INPUT_NOT_FOUND for a missing file and OPTION_INVALID without outDir', async () => {
    expectKbatchError(await catchError(() => splitRequests({ input: '/nonexistent.jsonl', outDir: '/tmp/x' })), { code: 'INPUT_NOT_FOUND' });
    expectKbatchError(await catchError(() => splitRequests({ input: '-' } as never)), { code: 'OPTION_INVALID', field: 'outDir' });
  });

  // Each line's estimate: ceil(chars / 4) + 4 for its one message.
  it('cuts a chunk before its estimated prompt tokens would pass maxBatchTokens, and reports each chunk\'s estimate', async () => {
    const lines = [line('a', 'x'.repeat(40)), line('b', 'y'.repeat(40)), line('c', 'z'.repeat(36)), line('d', 'é'.repeat(4))];
    const input = await tempFile('tokens.jsonl', lines.join('\n'));
    const { chunks } = await splitRequests({ input, outDir: join(await tempDir(), 'chunks'), maxBatchTokens: 28 });
    expect(chunks.map((c) => [c.firstCustomId, c.requests, c.tokens])).toEqual([
      ['a', 2, 28],
      ['c', 2, 18],
    ]);
    const { chunks: unbudgeted } = await splitRequests({ input, outDir: join(await tempDir(), 'chunks') });
    expect(unbudgeted.map((c) => [c.requests, c.tokens])).toEqual([[4, undefined]]);
  });

  it('refuses a request whose estimate alone passes maxBatchTokens with LINE_OVER_TOKEN_BUDGET naming its custom_id, before its chunk is written', async () => {
    const input = await tempFile('big.jsonl', [line('ok', 'x'), line('huge', 'x'.repeat(400))].join('\n'));
    const outDir = join(await tempDir(), 'chunks');
    const err = await catchError(() => splitRequests({ input, outDir, maxBatchTokens: 100 }));
    expectKbatchError(err, { code: 'LINE_OVER_TOKEN_BUDGET', customId: 'huge', field: 'maxBatchTokens', message: 'request "huge" is an estimated 104 prompt tokens, more than the batch token budget (maxBatchTokens 100)' });
    expect((await readdir(outDir)).filter((name) => name.endsWith('.jsonl'))).toEqual([]);
  });

  it('refuses a maxBatchTokens that is not a positive integer with OPTION_INVALID', async () => {
    const err = await catchError(() => splitRequests({ input: '-', stdin: byteStream(''), outDir: '/tmp/kbatch-never', maxBatchTokens: -1 }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'maxBatchTokens' });
    expect((err as Error).message).toBe('Invalid option `maxBatchTokens`: must be a positive integer, got -1');
  });
});

