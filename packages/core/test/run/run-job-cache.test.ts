import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, respond, type Emulator, type EmulatorOptions } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { cacheStats, clearCache, openAnswerCache, formatRunSummary, loadRunState, resumeRun, runJob, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const FAST: EmulatorOptions = { timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5 };
const LABELS = ['positive', 'negative', 'neutral'];
const TEXTS = ['I love it, great', 'terrible, broken, awful', 'it is a thing', 'amazing and wonderful', 'bad and poor'];

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kbatch-run-cache-'));
}

/** A JSONL input of `n` reviews (ids r1..rn); `changed` rows get a different text. */
async function reviews(file: string, n: number, changed: ReadonlySet<number> = new Set()): Promise<string> {
  const rows = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i + 1}`, text: changed.has(i + 1) ? `changed: ${TEXTS[i % 5]} é "q"` : TEXTS[i % 5] }));
  await writeFile(file, `${rows.join('\n')}\n`);
  return file;
}

describe('runJob with the request cache', () => {
  const emulators: Emulator[] = [];
  async function emulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; base: Pick<RunJobOptions, 'client' | 'model' | 'pollIntervalMs'> }> {
    const emu = await startEmulator({ ...FAST, seed: 5, ...options });
    emulators.push(emu);
    return { emu, base: { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), model: MODEL, pollIntervalMs: 20 } };
  }
  let shared: Awaited<ReturnType<typeof emulator>>;
  beforeAll(async () => {
    shared = await emulator();
  });
  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.close()));
  });

  it('sends nothing on a second identical run and writes the same rows (batch mode)', async () => {
    const { emu, base } = shared;
    const dir = await tempDir();
    const input = await reviews(join(dir, 'in.jsonl'), 20);
    const options = { ...base, input, prompt: 'Review {{id}}: {{text}}', labels: LABELS, idColumn: 'id', cache: join(dir, 'cache') } as const;
    const first = await runJob({ ...options, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    expect(first).toMatchObject({ records: 20, succeeded: 20, cached: 0, batches: 1 });
    expect((await cacheStats(join(dir, 'cache'))).entries).toBe(20);
    const before = emu.stats();
    const second = await runJob({ ...options, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(second).toMatchObject({ records: 20, succeeded: 20, cached: 20, batches: 0, promptTokens: 0 });
    // What the cache saved: the first run's tokens, as stored.
    expect(second.cachedTokens).toEqual({ prompt: first.promptTokens, completion: first.completionTokens });
    expect(emu.stats()).toMatchObject({ filesCreated: before.filesCreated, batchesCreated: before.batchesCreated, chatRequests: before.chatRequests });
    expect(await readFile(join(dir, 'b.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'a.jsonl'), 'utf8'));
  });

  it("reports what the cache saved at today's price for the mode the run sends in (null when that price is unknown), in the summary and spend.json", async () => {
    const { base } = shared;
    const dir = await tempDir();
    const input = await reviews(join(dir, 'in.jsonl'), 6);
    const options = { ...base, input, prompt: 'Saved {{id}}: {{text}}', labels: LABELS, idColumn: 'id', cache: join(dir, 'cache') } as const;
    const first = await runJob({ ...options, mode: 'realtime', output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    expect(first.spend.cacheSaved).toBeNull();
    const realtime = await runJob({ ...options, mode: 'realtime', output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    // Llama 3.1 8B on kluster, realtime: $0.18 per million tokens in and out.
    const expected = Math.round(((first.promptTokens + first.completionTokens) * 0.18) / 1e6 * 1e8) / 1e8;
    expect(realtime).toMatchObject({ cached: 6, spend: { cost: 0, cacheSaved: expected, prices: { checked: '2026-12-05' } } });
    expect(JSON.parse(await readFile(join(dir, 'b', 'spend.json'), 'utf8'))).toMatchObject({ cacheSaved: expected });
    expect(formatRunSummary(realtime)).toMatch(/; 6 answered from the cache \(saving \$[0-9.e-]+ at today's prices\)/);
    // Batch mode: kluster's batch price is not known, so neither is what the cache saved.
    const batch = await runJob({ ...options, mode: 'batch', output: join(dir, 'c.jsonl'), jobDir: join(dir, 'c') });
    expect(batch).toMatchObject({ cached: 6, spend: { cacheSaved: null } });
    expect(formatRunSummary(batch)).toMatch(/; 6 answered from the cache \(saving unknown: no price at today's prices\)/);
  });

  it('says the saving is unknown (null), not a smaller figure, when cached answers were stored without their token counts', async () => {
    const { base } = shared;
    const dir = await tempDir();
    const input = await reviews(join(dir, 'in.jsonl'), 4);
    const options = { ...base, input, prompt: 'Unmetered {{id}}: {{text}}', labels: LABELS, idColumn: 'id', mode: 'realtime', cache: join(dir, 'cache') } as const;
    await runJob({ ...options, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    // Two of the stored answers lose their usage (as a provider that reports none would have stored them).
    const cache = await openAnswerCache(join(dir, 'cache'));
    const keys = [...cache.entries()].map((e) => Buffer.from(e.key)).slice(0, 2);
    for (const key of keys) {
      const { usage: _usage, ...body } = JSON.parse(cache.get(key)!.body.toString('utf8')) as Record<string, unknown>;
      cache.put(key, JSON.stringify(body));
    }
    await cache.close();
    const rerun = await runJob({ ...options, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(rerun).toMatchObject({ cached: 4, spend: { cacheSaved: null, cachedWithoutUsage: 2 } });
    expect(JSON.parse(await readFile(join(dir, 'b', 'spend.json'), 'utf8'))).toMatchObject({ cacheSaved: null });
    expect(formatRunSummary(rerun)).toMatch(/; 4 answered from the cache \(saving unknown: 2 stored without token counts at today's prices\)/);
  });

  it('prices what the cache saved in the mode auto would have chosen from all the requests, not the realtime the cache made it', async () => {
    const { base } = shared;
    const dir = await tempDir();
    const input = await reviews(join(dir, 'in.jsonl'), 6);
    const options = { ...base, input, prompt: 'Auto {{id}}: {{text}}', labels: LABELS, idColumn: 'id', cache: join(dir, 'cache') } as const;
    await runJob({ ...options, mode: 'realtime', output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    // 6 requests reach the threshold of 3: batch, whose kluster price is unknown; all 6 cached, the run itself is realtime.
    const auto = await runJob({ ...options, mode: 'auto', autoThreshold: 3, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(auto).toMatchObject({ cached: 6, mode: 'realtime', spend: { cacheSaved: null } });
    // Under the threshold, auto would have run realtime anyway: priced at the realtime price.
    const small = await runJob({ ...options, mode: 'auto', autoThreshold: 100, output: join(dir, 'c.jsonl'), jobDir: join(dir, 'c') });
    expect(small).toMatchObject({ cached: 6, mode: 'realtime', spend: { cacheSaved: expect.any(Number) } });
    expect(small.spend.cacheSaved).toBeGreaterThan(0);
  });

  it('sends only the changed 5% of the rows, and joins the rest from the cache in input order', async () => {
    const { emu, base } = shared;
    const dir = await tempDir();
    const options = { ...base, prompt: 'Review: {{text}}', labels: LABELS, idColumn: 'id', maxRequests: 7, cache: join(dir, 'cache') } as const;
    await runJob({ ...options, input: await reviews(join(dir, 'in.jsonl'), 40), output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    const before = emu.stats().batchesCreated;
    const input = await reviews(join(dir, 'in2.jsonl'), 40, new Set([7, 33]));
    const second = await runJob({ ...options, input, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(second).toMatchObject({ records: 40, succeeded: 40, cached: 38, batches: 1 });
    expect(emu.stats().batchesCreated - before).toBe(1);
    expect((await loadRunState(join(dir, 'b')))?.chunks.map((c) => c.requests)).toEqual([2]);
    const rows = (await readFile(join(dir, 'b.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 40 }, (_, i) => `r${i + 1}`));
    expect(rows.filter((r) => String(r.text).startsWith('changed')).map((r) => r.id)).toEqual(['r7', 'r33']);
    expect(rows.every((r) => LABELS.includes(r.label) && r.error === null && r.custom_id === r.id)).toBe(true);
  });

  it('stores only valid answers: a request whose answer the labels reject is sent again', async () => {
    // "maybe?" for the reviews that mention "thing": never a label.
    const { emu, base } = await emulator({ responder: (body) => (JSON.stringify(body.messages).includes('thing') ? 'maybe?' : respond(body).content) });
    const dir = await tempDir();
    const options = { ...base, input: await reviews(join(dir, 'in.jsonl'), 10), prompt: 'Review: {{text}}', labels: LABELS, retries: 0, cache: join(dir, 'cache') } as const;
    const first = await runJob({ ...options, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    expect(first).toMatchObject({ succeeded: 8, invalidAnswers: 2 });
    // Rows with the same text are one request (the prompt has no id): 4 distinct valid answers.
    expect((await cacheStats(join(dir, 'cache'))).entries).toBe(4);
    const before = emu.stats().batchesCreated;
    const second = await runJob({ ...options, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(second).toMatchObject({ succeeded: 8, invalidAnswers: 2, cached: 8 });
    expect(emu.stats().batchesCreated - before).toBe(1);
    expect((await loadRunState(join(dir, 'b')))?.chunks.map((c) => c.requests)).toEqual([2]);
  });

  it('sends no realtime request for cached answers, in order or unordered', async () => {
    const { emu, base } = shared;
    const dir = await tempDir();
    const options = { ...base, prompt: '{{text}}', labels: LABELS, mode: 'realtime', maxRequests: 4, cache: join(dir, 'cache') } as const;
    const first = await runJob({ ...options, input: await reviews(join(dir, 'in.jsonl'), 12), output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    expect(first).toMatchObject({ succeeded: 12, realtimeRequests: 12 });
    const before = emu.stats().chatRequests;
    const again = await runJob({ ...options, input: join(dir, 'in.jsonl'), output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(again).toMatchObject({ succeeded: 12, cached: 12, realtimeRequests: 0 });
    expect(emu.stats().chatRequests).toBe(before);
    expect(await readFile(join(dir, 'b.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'a.jsonl'), 'utf8'));
    // Unordered, one row changed: the cached rows go out at once, the sent one when answered; every record once.
    const changed = await reviews(join(dir, 'in2.jsonl'), 12, new Set([5]));
    const unordered = await runJob({ ...options, input: changed, unordered: true, output: join(dir, 'c.jsonl'), jobDir: join(dir, 'c') });
    expect(unordered).toMatchObject({ records: 12, succeeded: 12, cached: 11, realtimeRequests: 1 });
    expect(emu.stats().chatRequests).toBe(before + 1);
    const rows = (await readFile(join(dir, 'c.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `r${i + 1}`).sort());
  });

  it('stores the answers of an --unordered realtime run: a second identical one sends nothing and writes the same rows', async () => {
    const { emu, base } = shared;
    const dir = await tempDir();
    const cache = join(dir, 'cache');
    const options = { ...base, prompt: 'Unordered {{id}}: {{text}}', labels: LABELS, idColumn: 'id', mode: 'realtime', unordered: true, maxRequests: 3, cache } as const;
    const input = await reviews(join(dir, 'in.jsonl'), 10);
    const first = await runJob({ ...options, input, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    expect(first).toMatchObject({ records: 10, succeeded: 10, cached: 0, realtimeRequests: 10 });
    expect((await cacheStats(cache)).entries).toBe(10);
    const before = emu.stats().chatRequests;
    const second = await runJob({ ...options, input, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    expect(second).toMatchObject({ records: 10, succeeded: 10, cached: 10, realtimeRequests: 0 });
    expect(emu.stats().chatRequests).toBe(before);
    const sorted = async (file: string): Promise<string[]> => (await readFile(join(dir, file), 'utf8')).trim().split('\n').sort();
    expect(await sorted('b.jsonl')).toEqual(await sorted('a.jsonl'));
    // Each answer under its own request's key: the ordered run gets the same rows, in input order.
    const ordered = await runJob({ ...options, unordered: false, input, output: join(dir, 'c.jsonl'), jobDir: join(dir, 'c') });
    expect(ordered).toMatchObject({ cached: 10, realtimeRequests: 0 });
    const rows = (await readFile(join(dir, 'c.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const firstRows = new Map((await sorted('a.jsonl')).map((l) => [JSON.parse(l).id, JSON.parse(l)]));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
    for (const r of rows) expect(r.label).toBe(firstRows.get(r.id).label);
  });

  it('gives --keep-raw rows from the cache the original answer body when the storing run kept it, else a rebuilt one that says so', async () => {
    const { base } = shared;
    const dir = await tempDir();
    const options = { ...base, input: await reviews(join(dir, 'in.jsonl'), 4), labels: LABELS, idColumn: 'id', cache: join(dir, 'cache') } as const;
    const rows = async (file: string): Promise<Array<Record<string, unknown>>> => (await readFile(join(dir, file), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    // Stored by a --keep-raw run: the second run's raw is the first's, byte for byte.
    await runJob({ ...options, prompt: 'Raw {{id}}: {{text}}', keepRaw: true, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    await runJob({ ...options, prompt: 'Raw {{id}}: {{text}}', keepRaw: true, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') });
    const [fresh, cached] = [await rows('a.jsonl'), await rows('b.jsonl')];
    expect(cached.map((r) => r.raw)).toEqual(fresh.map((r) => r.raw));
    expect(fresh[0]!.raw).toMatchObject({ id: expect.any(String), model: MODEL, object: 'chat.completion' });
    // Stored by a run without it (the join read only the verdicts): rebuilt from the answer's fields, and marked.
    await runJob({ ...options, prompt: 'Lean {{id}}: {{text}}', output: join(dir, 'c.jsonl'), jobDir: join(dir, 'c') });
    const second = await runJob({ ...options, prompt: 'Lean {{id}}: {{text}}', keepRaw: true, output: join(dir, 'd.jsonl'), jobDir: join(dir, 'd') });
    expect(second.cached).toBe(4);
    for (const row of await rows('d.jsonl')) {
      expect(row.raw).toMatchObject({ object: 'chat.completion', x_kbatch_rebuilt: true, choices: [{ message: { role: 'assistant', content: row.response }, finish_reason: 'stop' }], usage: { prompt_tokens: row.prompt_tokens, completion_tokens: row.completion_tokens } });
    }
  });

  it('keeps a resumed run exact: what the cache answered before the stop stays answered after the cache is cleared', async () => {
    const { base } = await emulator({ validationMs: 1500 });
    const dir = await tempDir();
    const cache = join(dir, 'cache');
    const options = { ...base, prompt: 'Review {{id}}: {{text}}', labels: LABELS, idColumn: 'id', cache } as const;
    await runJob({ ...options, input: await reviews(join(dir, 'in.jsonl'), 20), output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    const input = await reviews(join(dir, 'in2.jsonl'), 20, new Set([3]));
    // Stopped while its one batch (the changed row) runs.
    const err = await catchError(() => runJob({ ...options, input, timeoutMs: 300, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') }));
    expectKbatchError(err, { code: 'AWAIT_TIMEOUT' });
    expect(await clearCache(cache)).toBe(20);
    const resumed = await resumeRun(join(dir, 'b'), { client: base.client, pollIntervalMs: 20, cache });
    expect(resumed).toMatchObject({ records: 20, succeeded: 20, cached: 19, resumed: true });
    const rows = (await readFile(join(dir, 'b.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => `r${i + 1}`));
    // The sent answer was stored when the resumed run joined it.
    expect((await cacheStats(cache)).entries).toBe(1);
  });

  it('neither reads nor writes a cache with cache: false', async () => {
    const { emu, base } = shared;
    const dir = await tempDir();
    const options = { ...base, input: await reviews(join(dir, 'in.jsonl'), 5), prompt: '{{text}}', labels: LABELS, cache: false } as const;
    await runJob({ ...options, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') });
    const before = emu.stats().batchesCreated;
    expect(await runJob({ ...options, output: join(dir, 'b.jsonl'), jobDir: join(dir, 'b') })).toMatchObject({ cached: 0, batches: 1 });
    expect(emu.stats().batchesCreated - before).toBe(1);
    expectKbatchError(await catchError(() => runJob({ ...options, cache: '' })), { code: 'OPTION_INVALID', field: 'cache' });
  });

  it('runs without the cache, with a warning, when the cache cannot be opened', async () => {
    const { base } = shared;
    const dir = await tempDir();
    const warnings: string[] = [];
    const options = { ...base, input: await reviews(join(dir, 'in.jsonl'), 5), prompt: '{{text}}', labels: LABELS, cache: '/proc/kbatch-no-cache', onWarning: (m: string) => warnings.push(m) } as const;
    expect(await runJob({ ...options, output: join(dir, 'a.jsonl'), jobDir: join(dir, 'a') })).toMatchObject({ succeeded: 5, cached: 0, batches: 1 });
    expect(warnings.join('\n')).toMatch(/the request cache in \/proc\/kbatch-no-cache cannot be used, running without it/);
  });
});
