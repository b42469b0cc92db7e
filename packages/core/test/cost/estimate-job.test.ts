import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createClient } from '../../src/client/index.js';
import { estimateJob, runJob, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const LABELS = ['positive', 'negative', 'neutral'];

async function reviews(n: number): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-estimate-'));
  const rows = ['id,text'];
  for (let i = 1; i <= n; i++) rows.push(`r${i},"Review ${i}: ""great"", works — café 😀"`);
  const file = join(dir, 'reviews.csv');
  await writeFile(file, `${rows.join('\n')}\n`);
  return { dir, file };
}

let emu: Emulator;
let base: Pick<RunJobOptions, 'client' | 'model' | 'provider' | 'pollIntervalMs'>;
beforeAll(async () => {
  emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 3 });
  base = { client: createClient({ provider: 'openai', apiKey: 'k', baseURL: emu.baseURL }), provider: 'openai', model: 'gpt-4o-mini', pollIntervalMs: 20 };
});
afterAll(async () => {
  await emu.close();
});

describe('estimateJob', () => {
  it('prints the fields --json promises: requests, batches with their limits, tokens, cost, tokenizer and prices', async () => {
    const { file } = await reviews(7);
    const e = await estimateJob({ input: file, provider: 'openai', model: 'gpt-4o-mini', prompt: 'Review: {{text}}', labels: LABELS, maxRequests: 3 });
    expect(e).toMatchObject({ records: 7, requests: 7, skipped: 0, batches: 3, limits: { max_requests: 3 }, provider: 'openai', mode: 'batch', window: '24h' });
    expect(e.prompt_tokens).toBeGreaterThan(7 * 20);
    // The longest label ("positive", "negative", "neutral": one o200k token each) + the end-of-turn token.
    expect(e.completion_tokens).toEqual({ expected: 14, max: 7 * 16_384, per_request: { expected: 2, max: 16_384 }, expected_from: 'labels', max_from: 'model output cap' });
    expect(e.cost.currency).toBe('USD');
    expect(e.cost.expected).toBeCloseTo((e.prompt_tokens * 0.075 + 14 * 0.3) / 1e6, 9);
    expect(e.cost.worst_case).toBeCloseTo((e.prompt_tokens * 0.075 + 7 * 16_384 * 0.3) / 1e6, 9);
    expect(e).toMatchObject({ tokenizer: 'o200k_base (gpt-tokenizer)', tokenizer_exact: true, prices: { input_per_mtok: 0.075, output_per_mtok: 0.3, checked: '2026-12-05' } });
  });

  it('takes completion tokens from max_completion_tokens, a schema, or the documented default', async () => {
    const { file } = await reviews(2);
    const given = { input: file, provider: 'openai', model: 'gpt-4o', prompt: '{{text}}' };
    expect((await estimateJob({ ...given, maxCompletionTokens: 50 })).completion_tokens).toMatchObject({ expected: 100, max: 100, expected_from: 'max_completion_tokens', max_from: 'max_completion_tokens' });
    expect((await estimateJob(given)).completion_tokens).toMatchObject({ per_request: { expected: 256 }, expected_from: 'default' });
    const schema = { type: 'object', properties: { category: { type: 'string', enum: ['bug', 'feature'] }, urgent: { type: 'boolean' } }, required: ['category', 'urgent'] };
    const e = await estimateJob({ ...given, schema, maxCompletionTokens: 40 });
    expect(e.completion_tokens.expected_from).toBe('schema');
    expect(e.completion_tokens.per_request.expected).toBeGreaterThan(5);
    expect(e.completion_tokens.per_request.expected).toBeLessThanOrEqual(40);
  });

  it('shows an unknown price as unknown (null), never $0, and counts kluster Llama prompts with Llama 3', async () => {
    const { file } = await reviews(2);
    const e = await estimateJob({ input: file, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', prompt: '{{text}}' });
    expect(e).toMatchObject({ provider: 'kluster', cost: { currency: 'USD', expected: null, worst_case: null }, prices: null, tokenizer: 'llama3 (llama3-tokenizer-js)' });
  });

  it('reads records given as an iterable without writing a job directory', async () => {
    const { dir } = await reviews(0);
    const e = await estimateJob({ input: [{ text: 'a' }, { text: 'b' }], format: 'jsonl', cwd: dir, provider: 'openai', model: 'gpt-4o', prompt: '{{text}}' });
    expect(e.requests).toBe(2);
    expect(await readdir(dir)).toEqual(['reviews.csv']);
  });
});

describe('runJob with dryRun and maxCost', () => {
  it('a dry run uploads nothing, creates no batch and writes no job directory; its summary carries the estimate', async () => {
    const { dir, file } = await reviews(5);
    const before = emu.stats();
    const summary = await runJob({ ...base, input: file, cwd: dir, prompt: 'Review: {{text}}', labels: LABELS, dryRun: true });
    expect(summary).toMatchObject({ records: 5, succeeded: 0, batches: 0, jobDir: '', estimate: { requests: 5, batches: 1 } });
    const after = emu.stats();
    expect([after.filesCreated, after.batchesCreated, after.chatRequests]).toEqual([before.filesCreated, before.batchesCreated, before.chatRequests]);
    expect(await readdir(dir)).toEqual(['reviews.csv']);
  });

  it('a dry run of stdin-like input reads it whole and still writes nothing', async () => {
    const { dir } = await reviews(0);
    const summary = await runJob({ ...base, input: Readable.from([Buffer.from('id,text\nr1,hello\nr2,world\n')], { objectMode: false }), format: 'csv', cwd: dir, prompt: '{{text}}', dryRun: true });
    expect(summary.estimate?.requests).toBe(2);
    expect(await readdir(dir)).toEqual(['reviews.csv']);
  });

  it('refuses a batch run whose worst case is above maxCost with BUDGET_EXCEEDED before any upload, saying what would lower it', async () => {
    const { dir, file } = await reviews(5);
    const before = emu.stats();
    const err = await catchError(() => runJob({ ...base, input: file, cwd: dir, jobDir: join(dir, 'job'), prompt: 'Review: {{text}}', labels: LABELS, maxCost: 0.001 }));
    expectKbatchError(err, { code: 'BUDGET_EXCEEDED', field: 'maxCost', message: /worst-case cost \$0\.025 .* above --max-cost \$0\.0010; nothing was uploaded or sent\. --max-completion-tokens \d+ \(now 16384, from model output cap\)/ });
    const after = emu.stats();
    expect([after.filesCreated, after.batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
  });

  it('runs when the worst case is within maxCost, and reports the estimate in the summary', async () => {
    const { dir, file } = await reviews(4);
    const before = emu.stats().filesCreated;
    const summary = await runJob({ ...base, input: file, cwd: dir, jobDir: join(dir, 'job'), prompt: 'Review: {{text}}', labels: LABELS, maxCompletionTokens: 5, maxCost: 1, output: join(dir, 'out.jsonl') });
    expect(summary).toMatchObject({ records: 4, estimate: { requests: 4, completion_tokens: { per_request: { max: 5 }, max_from: 'max_completion_tokens' } } });
    expect(emu.stats().filesCreated).toBeGreaterThan(before);
  });

  it('refuses maxCost it cannot check (unknown price, or no completion cap) with COST_UNKNOWN before any upload', async () => {
    const { dir, file } = await reviews(3);
    const before = emu.stats();
    const kluster = { ...base, provider: 'kluster', client: createClient({ apiKey: 'k', baseURL: emu.baseURL }), model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' };
    const unknown = await catchError(() => runJob({ ...kluster, input: file, cwd: dir, jobDir: join(dir, 'a'), prompt: '{{text}}', maxCost: 100 }));
    expectKbatchError(unknown, { code: 'COST_UNKNOWN', message: /no price for klusterai\/Meta-Llama-3\.1-8B-Instruct-Turbo on kluster \(batch, window 24h\)/ });
    const uncapped = await catchError(() => runJob({ ...base, model: 'gpt-4o-mini-unlisted', input: file, cwd: dir, jobDir: join(dir, 'b'), prompt: '{{text}}', maxCost: 100 }));
    expectKbatchError(uncapped, { code: 'COST_UNKNOWN' });
    expect(emu.stats().filesCreated).toBe(before.filesCreated);
  });

  it('rejects a maxCost that is not a positive number with OPTION_INVALID', async () => {
    const { file } = await reviews(1);
    expectKbatchError(await catchError(() => runJob({ ...base, input: file, prompt: '{{text}}', maxCost: -1 })), { code: 'OPTION_INVALID', field: 'maxCost' });
  });
});

describe('estimateJob and maxCost with the request cache', () => {
  // The emulator answers kluster's models; Llama 3.1 8B has a realtime price in the table.
  const kluster = (): Pick<RunJobOptions, 'client' | 'model' | 'provider' | 'pollIntervalMs'> => ({ ...base, provider: 'kluster', client: createClient({ apiKey: 'k', baseURL: emu.baseURL }), model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' });

  it('counts the requests the cache answers as cost 0: cached_requests, and batches, tokens and cost of the others only', async () => {
    const { dir, file } = await reviews(6);
    const given = { ...kluster(), mode: 'realtime', cwd: dir, prompt: 'Review: {{text}}', labels: LABELS, maxRequests: 3, cache: join(dir, 'cache') } as const;
    expect(await runJob({ ...given, input: file, jobDir: join(dir, 'job'), output: join(dir, 'out.jsonl') })).toMatchObject({ succeeded: 6 });
    // Two rows more: only they would be sent.
    const more = join(dir, 'more.csv');
    await writeFile(more, `${await readFile(file, 'utf8')}r7,"seven, new"\nr8,"eight, new"\n`);
    const onlyNew = join(dir, 'new.csv');
    await writeFile(onlyNew, 'id,text\nr7,"seven, new"\nr8,"eight, new"\n');
    const e = await estimateJob({ ...given, input: more });
    const fresh = await estimateJob({ ...given, input: onlyNew, cache: false });
    expect(fresh).toMatchObject({ requests: 2, cached_requests: 0, cost: { expected: expect.any(Number) } });
    expect(e).toMatchObject({ records: 8, requests: 8, cached_requests: 6, batches: 1, prompt_tokens: fresh.prompt_tokens, completion_tokens: fresh.completion_tokens, cost: fresh.cost });
    expect((await estimateJob({ ...given, input: more, cache: false })).cached_requests).toBe(0);
  });

  it('neither makes nor changes a cache directory that does not exist', async () => {
    const { dir, file } = await reviews(2);
    const e = await estimateJob({ ...base, input: file, cwd: dir, prompt: '{{text}}', cache: join(dir, 'absent') });
    expect(e.cached_requests).toBe(0);
    expect(await readdir(dir)).toEqual(['reviews.csv']);
  });

  it('does not refuse a run the cache answers whole with COST_UNKNOWN, and uploads nothing; one request not cached is checked again', async () => {
    const { dir, file } = await reviews(4);
    const given = { ...kluster(), cwd: dir, input: file, prompt: 'Review: {{text}}', labels: LABELS, cache: join(dir, 'cache') };
    await runJob({ ...given, jobDir: join(dir, 'a'), output: join(dir, 'a.jsonl') });
    const before = emu.stats();
    // kluster's batch price is unknown: fine when nothing is sent.
    const cached = await runJob({ ...given, maxCost: 1, jobDir: join(dir, 'b'), output: join(dir, 'b.jsonl') });
    expect(cached).toMatchObject({ records: 4, succeeded: 4, cached: 4, batches: 0, estimate: { requests: 4, cached_requests: 4, prices: null } });
    expect((await runJob({ ...given, maxCost: 1, dryRun: true })).estimate).toMatchObject({ cached_requests: 4 });
    expect([emu.stats().filesCreated, emu.stats().batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
    await writeFile(file, `${await readFile(file, 'utf8')}r5,"five, not cached"\n`);
    expectKbatchError(await catchError(() => runJob({ ...given, maxCost: 1, jobDir: join(dir, 'c') })), { code: 'COST_UNKNOWN' });
  });

  it('with prices a user gives (kluster batch), checks maxCost, prices the spend, and does not refuse a run the cache answers whole', async () => {
    const { dir, file } = await reviews(4);
    const prices = [{ providers: ['kluster'], model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'https://example.test/kluster-batch', checked: '2026-12-01' }];
    const given = { ...kluster(), cwd: dir, input: file, prompt: 'Priced: {{text}}', labels: LABELS, maxCompletionTokens: 5, cache: join(dir, 'cache'), prices };
    const estimate = await estimateJob(given);
    expect(estimate).toMatchObject({ mode: 'batch', prices: { input_per_mtok: 0.05, source: 'https://example.test/kluster-batch', checked: '2026-12-01' } });
    expectKbatchError(await catchError(() => runJob({ ...given, maxCost: 1e-9, jobDir: join(dir, 'a') })), { code: 'BUDGET_EXCEEDED', message: /of 4 requests to/ });
    const first = await runJob({ ...given, maxCost: 1, jobDir: join(dir, 'b'), output: join(dir, 'b.jsonl') });
    expect(first).toMatchObject({ succeeded: 4, spend: { cost: expect.any(Number), prices: { source: 'https://example.test/kluster-batch' } } });
    expect(first.spend.cost).toBeCloseTo(((first.promptTokens + first.completionTokens) * 0.05) / 1e6, 8);
    // Answered whole by the cache: a cap of $0.000000001 is not passed.
    const before = emu.stats();
    const cached = await runJob({ ...given, maxCost: 1e-9, jobDir: join(dir, 'c'), output: join(dir, 'c.jsonl') });
    expect(cached).toMatchObject({ cached: 4, estimate: { cached_requests: 4, cost: { expected: 0, worst_case: 0 } }, spend: { cacheSaved: first.spend.cost } });
    expect([emu.stats().filesCreated, emu.stats().batchesCreated]).toEqual([before.filesCreated, before.batchesCreated]);
    await writeFile(file, `${await readFile(file, 'utf8')}r5,"five, not cached"\n`);
    expectKbatchError(await catchError(() => runJob({ ...given, maxCost: 1e-9, jobDir: join(dir, 'd') })), { code: 'BUDGET_EXCEEDED', message: /of 1 requests \(4 more answered by the cache\) to/ });
  });
});
