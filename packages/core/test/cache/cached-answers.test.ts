import { describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerBodyJson, keepAnswers } from '../../src/cache/cached-answers.js';
import { openAnswerCache, type AnswerCache } from '../../src/cache/answer-cache.js';
import type { JoinOutcome } from '../../src/join/join-record.js';

/** A succeeded outcome whose answer is `answer` (rebuilt body: the lean join keeps no raw body). */
function succeeded(answer: string): JoinOutcome {
  return {
    row: {},
    customId: answer,
    status: 'succeeded',
    errorCode: null,
    result: { customId: answer, ok: true, statusCode: 200, requestId: null, response: answer, finishReason: 'stop', promptTokens: 3, completionTokens: 1, logprobs: null, error: null, body: null },
  };
}

function failed(): JoinOutcome {
  return { row: {}, customId: 'x', status: 'failed', errorCode: 'REQUEST_FAILED', result: undefined };
}

/** A job's keys file of `n` random keys, as prepare writes it (32 bytes each, input order). */
async function keysFile(n: number): Promise<{ dir: string; file: string; keys: Buffer[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-keep-'));
  await mkdir(join(dir, 'run'));
  const bytes = randomBytes(32 * n);
  const file = join(dir, 'run', 'request-keys.bin');
  await writeFile(file, bytes);
  return { dir, file, keys: Array.from({ length: n }, (_, i) => bytes.subarray(32 * i, 32 * i + 32)) };
}

/** The real cache, with its puts and flushes recorded in order. */
function recording(cache: AnswerCache): { cache: AnswerCache; puts: Buffer[]; flushesAfter: number[] } {
  const puts: Buffer[] = [];
  const flushesAfter: number[] = [];
  return {
    puts,
    flushesAfter,
    cache: {
      ...cache,
      put(key, body) {
        puts.push(Buffer.from(key));
        cache.put(key, body);
      },
      async flush() {
        flushesAfter.push(puts.length);
        await cache.flush();
      },
    },
  };
}

const answerOf = (cache: AnswerCache, key: Buffer): string | undefined => {
  const hit = cache.get(key);
  return hit ? (JSON.parse(hit.body.toString()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content : undefined;
};

describe('keepAnswers', () => {
  it('stores every succeeded answer under its key, in key order, committing one bucket before the next', async () => {
    const { dir, file, keys } = await keysFile(20_000);
    const real = await openAnswerCache(join(dir, 'cache'));
    const { cache, puts, flushesAfter } = recording(real);
    const keeper = keepAnswers(cache, dir)!;
    for (let i = 0; i < keys.length; i++) keeper.keep(i % 10 === 3 ? failed() : succeeded(`a${i}`));
    await keeper.close();

    expect(puts).toHaveLength(18_000);
    for (let i = 1; i < puts.length; i++) expect(Buffer.compare(puts[i - 1]!, puts[i]!)).toBeLessThan(0);
    // 20,000 keys make 3 buckets: each is committed before the next is read, so at most one is in memory.
    expect(flushesAfter.filter((n, i) => n !== flushesAfter[i - 1])).toHaveLength(3);
    expect(answerOf(real, keys[0]!)).toBe('a0');
    expect(answerOf(real, keys[19_999]!)).toBe('a19999');
    expect(answerOf(real, keys[3]!)).toBeUndefined();
    expect(real.size()).toBe(18_000);
    expect(existsSync(join(dir, 'run', 'answers-spool'))).toBe(false);
    await real.close();
  });

  it('stores the answers an unordered join keeps by request number the same way', async () => {
    const { dir, file, keys } = await keysFile(50);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir)!;
    for (let i = keys.length - 1; i >= 0; i--) keeper.keepAt(succeeded(`u${i}`), i);
    await keeper.close();
    expect(keys.map((k) => answerOf(real, k))).toEqual(keys.map((_, i) => `u${i}`));
    await real.close();
  });

  it('hands what a long join spooled to the cache as it goes: a join that never closes (a crash) has stored it', async () => {
    const { dir, file, keys } = await keysFile(6);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir, { storeEveryMs: 0 })!;
    for (let i = 0; i < 3; i++) keeper.keep(succeeded(`early${i}`));
    await vi.waitFor(() => expect(real.size()).toBe(3));
    expect(answerOf(real, keys[2]!)).toBe('early2');
    for (let i = 3; i < 6; i++) keeper.keep(succeeded(`late${i}`));
    await keeper.close();
    expect(keys.map((k) => answerOf(real, k))).toEqual(['early0', 'early1', 'early2', 'late3', 'late4', 'late5']);
    expect(existsSync(join(dir, 'run', 'answers-spool'))).toBe(false);
    await real.close();
  });

  it('stores a generation after the one before it: the later of two answers to one request wins across hand-overs', async () => {
    // 8,193 keys make 2 buckets; the request answered twice sits in the second, after the first bucket's answers.
    const { dir, file, keys } = await keysFile(8_193);
    keys[0]![0] = 0x10;
    keys[1]![0] = 0x90;
    keys[2]![0] = 0x20;
    await writeFile(file, Buffer.concat(keys));
    const real = await openAnswerCache(join(dir, 'cache'));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const keeper = keepAnswers(real, dir, { storeEveryMs: 1_000 })!;
      keeper.keepAt(succeeded('a'), 0);
      keeper.keepAt(succeeded('first'), 1);
      vi.setSystemTime(Date.now() + 1_000);
      // Hands over {a, first, c}: its store commits the first bucket before it reads the second...
      keeper.keepAt(succeeded('c'), 2);
      // ...while the join goes on: this answer is stored only after it.
      keeper.keepAt(succeeded('second'), 1);
      await keeper.close();
    } finally {
      vi.useRealTimers();
    }
    expect([0, 1, 2].map((i) => answerOf(real, keys[i]!))).toEqual(['a', 'second', 'c']);
    await real.close();
  });

  it('hands the spool over on its clock while no valid answer comes (failures, stragglers)', async () => {
    const { dir, file, keys } = await keysFile(10);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir, { storeEveryMs: 100 })!;
    for (let i = 0; i < 3; i++) keeper.keep(succeeded(`s${i}`));
    for (let i = 3; i < 10; i++) keeper.keep(failed());
    await vi.waitFor(() => expect(real.size()).toBe(3), { timeout: 2_000 });
    expect(answerOf(real, keys[1]!)).toBe('s1');
    await keeper.close();
    await real.close();
  });

  it('hands the spool over when its buckets hold 8 MB each on average, whatever the time (long answers)', async () => {
    const { dir, file } = await keysFile(12);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir)!;
    // One bucket (12 keys): the eighth answer of 1 MB (with its JSON) passes 8 MB and hands the spool over, 30 s or not.
    for (let i = 0; i < 12; i++) keeper.keep(succeeded(`${i}`.padEnd(1 << 20, 'x')));
    await vi.waitFor(() => expect(real.size()).toBe(8), { timeout: 5_000 });
    await keeper.close();
    expect(real.size()).toBe(12);
    await real.close();
  });

  it('counts 8 MB a bucket on average: two buckets hold 16 MB before a hand-over', async () => {
    const { dir, file } = await keysFile(8_193);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir)!;
    for (let i = 0; i < 9; i++) keeper.keep(succeeded(`${i}`.padEnd(1 << 20, 'x')));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(real.size()).toBe(0);
    await keeper.close();
    expect(real.size()).toBe(9);
    await real.close();
  });

  it('keeps long and short answers to one request in the order they came (a long one is written on its own)', async () => {
    const { dir, file, keys } = await keysFile(4);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir)!;
    const long = 'L'.padEnd(100_000, 'l');
    keeper.keepAt(succeeded('short first'), 0);
    keeper.keepAt(succeeded(long), 0);
    keeper.keepAt(succeeded(long), 1);
    keeper.keepAt(succeeded('short after a long one'), 1);
    await keeper.close();
    expect(answerOf(real, keys[0]!)).toBe(long);
    expect(answerOf(real, keys[1]!)).toBe('short after a long one');
    await real.close();
  });

  it('stops its clock at close(): nothing fires after a join ends (a worker runs many)', async () => {
    const { dir, file } = await keysFile(4);
    const real = await openAnswerCache(join(dir, 'cache'));
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const keeper = keepAnswers(real, dir)!;
      expect(vi.getTimerCount()).toBe(1);
      keeper.keep(succeeded('a'));
      await keeper.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
    expect(real.size()).toBe(1);
    await real.close();
  });

  it('lets the later of two answers to one request win, as before', async () => {
    const { dir, file, keys } = await keysFile(4);
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir)!;
    keeper.keepAt(succeeded('first'), 2);
    keeper.keepAt(succeeded('second'), 2);
    await keeper.close();
    expect(answerOf(real, keys[2]!)).toBe('second');
    expect(real.size()).toBe(1);
    await real.close();
  });

  it('spools into a directory of its own: another join of the job (another machine) neither mixes in nor removes it', async () => {
    const { dir, keys } = await keysFile(4_000);
    const real = await openAnswerCache(join(dir, 'cache'));
    const warnings: string[] = [];
    const onWarning = (m: string): number => warnings.push(m);
    const a = keepAnswers(real, dir, { onWarning })!;
    for (let i = 0; i < 2_000; i++) a.keepAt(succeeded(`a${i}`), i);
    const b = keepAnswers(real, dir, { onWarning })!;
    for (let i = 2_000; i < 4_000; i++) b.keepAt(succeeded(`b${i}`), i);
    await a.close();
    await b.close();
    expect(warnings).toEqual([]);
    expect(real.size()).toBe(4_000);
    expect([answerOf(real, keys[0]!), answerOf(real, keys[3_999]!)]).toEqual(['a0', 'b3999']);
    // The last one out removes the spools' directory.
    expect(existsSync(join(dir, 'run', 'answers-spool'))).toBe(false);
    await real.close();
  });

  it('never reads a spool a killed join left (its process is gone: the next run sweeps it) and leaves it to that sweep', async () => {
    const { dir, keys } = await keysFile(10);
    const left = join(dir, 'run', 'answers-spool', '999999.deadbeef', '0');
    await mkdir(left, { recursive: true });
    // A record of a key no request has, as a killed join would have spooled it.
    await writeFile(join(left, '000.bin'), Buffer.concat([Buffer.alloc(32, 7), Buffer.from([2, 0, 0, 0]), Buffer.from('{}')]));
    const real = await openAnswerCache(join(dir, 'cache'));
    const keeper = keepAnswers(real, dir)!;
    keeper.keep(succeeded('kept'));
    await keeper.close();
    expect(real.size()).toBe(1);
    expect(answerOf(real, keys[0]!)).toBe('kept');
    expect(existsSync(join(left, '000.bin'))).toBe(true);
    await real.close();
  });

  it('warns, and stores nothing of it, when a bucket file ends inside a record (a disk that failed mid-write)', async () => {
    const { dir } = await keysFile(10);
    const real = await openAnswerCache(join(dir, 'cache'));
    const warnings: string[] = [];
    const keeper = keepAnswers(real, dir, { onWarning: (m) => warnings.push(m) })!;
    keeper.keep(succeeded('whole'));
    // A record head that promises 1,000 bytes no write delivered, before the spool writes its own.
    const [root] = await readdir(join(dir, 'run', 'answers-spool'));
    await writeFile(join(dir, 'run', 'answers-spool', root!, '0', '000.bin'), Buffer.concat([Buffer.alloc(32, 1), Buffer.from([0xe8, 3, 0, 0])]));
    await keeper.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^answers could not be stored in the request cache in .*: .*000\.bin ends inside a record at byte 0$/);
    expect(real.size()).toBe(0);
    await real.close();
  });

  it('warns, and throws nothing, when the spool cannot be written: the join goes on', async () => {
    const { dir, file } = await keysFile(10);
    const real = await openAnswerCache(join(dir, 'cache'));
    const warnings: string[] = [];
    const keeper = keepAnswers(real, dir, { onWarning: (m) => warnings.push(m) })!;
    // The spool's directory turns into a file under the join (as a disk that fails would refuse the writes).
    const spool = join(dir, 'run', 'answers-spool');
    await rm(spool, { recursive: true });
    await writeFile(spool, 'in the way');
    for (let i = 0; i < 10; i++) keeper.keep(succeeded(`w${i}`));
    await keeper.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^answers could not be stored in the request cache in .*cache: ENOTDIR/);
    expect(real.size()).toBe(0);
    await real.close();
  });

  it('keeps nothing, and is null, for a job prepared without the cache (no keys file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-keep-'));
    const real = await openAnswerCache(join(dir, 'cache'));
    expect(keepAnswers(real, dir)).toBeNull();
    expect(await readdir(dir)).toEqual(['cache']);
    await real.close();
  });

  describe('answerBodyJson', () => {
    const base = succeeded('x').result!;
    it('rebuilds a lean answer as the chat.completion JSON a cache hit is read from, key for key', () => {
      const result = { ...base, response: 'say "hé" \\ 😀\n', finishReason: 'length', promptTokens: 12, completionTokens: null };
      expect(answerBodyJson(result)).toBe(
        JSON.stringify({
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: 'say "hé" \\ 😀\n' }, finish_reason: 'length' }],
          usage: { prompt_tokens: 12, completion_tokens: null },
          x_kbatch_rebuilt: true,
        }),
      );
    });

    it('keeps logprobs, reasoning and cached tokens where the usage reports them', () => {
      const logprobs = [{ token: 'a', logprob: -0.5, bytes: [97], top_logprobs: [] }];
      const result = { ...base, response: null, finishReason: null, logprobs, reasoningTokens: 7, cachedTokens: 3 };
      expect(answerBodyJson(result)).toBe(
        JSON.stringify({
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: null, logprobs: { content: logprobs } }],
          usage: { prompt_tokens: 3, completion_tokens: 1, completion_tokens_details: { reasoning_tokens: 7 }, prompt_tokens_details: { cached_tokens: 3 } },
          x_kbatch_rebuilt: true,
        }),
      );
    });

    it('stores the body the join kept as it came', () => {
      const body = { id: 'chatcmpl-1', choices: [{ message: { content: 'hi' } }], usage: { prompt_tokens: 1 } };
      expect(answerBodyJson({ ...base, body })).toBe(JSON.stringify(body));
    });
  });
});
