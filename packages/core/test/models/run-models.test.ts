import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { startEmulator, respond, type ChatRequestBody, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { evaluate, formatModelsSummary, isModelsSummary, isRunJob, resumeRun, runJob, runRecords, type ModelsSummary, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const SMALL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LARGE = 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo';
const LABELS = ['positive', 'negative', 'neutral'];
const TEXTS = ['I love it, great', 'terrible, broken, awful', 'it is a thing', 'amazing and wonderful', 'bad and poor'];

// The 70B model answers as the built-in rule does, except that it calls every negative review neutral: the two disagree.
function responder(body: ChatRequestBody): string {
  const answer = respond(body).content;
  return body.model === LARGE && answer === 'negative' ? 'neutral' : answer;
}

async function reviewsCsv(dir: string, n: number): Promise<string> {
  const rows = ['id,text,gold'];
  for (let i = 1; i <= n; i++) rows.push(`r${i},"${TEXTS[i % TEXTS.length]}",${i % 2 === 0 ? 'negative' : 'positive'}`);
  const file = join(dir, 'reviews.csv');
  await writeFile(file, `${rows.join('\n')}\n`);
  return file;
}

describe('runJob with several models', () => {
  let emu: Emulator;
  let base: Pick<RunJobOptions, 'client' | 'pollIntervalMs' | 'prompt' | 'labels' | 'models'>;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, responder });
    base = { client: createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL }), pollIntervalMs: 20, prompt: 'Review: {{text}}', labels: LABELS, models: [SMALL, LARGE] };
  });
  afterAll(async () => {
    await emu.close();
  });

  it('writes one CSV row per record in input order with each model fields under its alias, one batch per model per chunk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 12);
    const out = join(dir, 'both.csv');
    const before = emu.stats().batchesCreated;
    const summary = (await runJob({ ...base, input, maxRequests: 5, output: out, jobDir: join(dir, 'job') })) as ModelsSummary;
    expect(emu.stats().batchesCreated - before).toBe(6);
    const rows = parse(await readFile(out), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 12 }, (_, i) => `r${i + 1}`));
    const fields = ['custom_id', 'label', 'response', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'error'];
    const a = 'Meta-Llama-3.1-8B-Instruct-Turbo';
    const b = 'Meta-Llama-3.3-70B-Instruct-Turbo';
    expect(Object.keys(rows[0]!)).toEqual(['id', 'text', 'gold', ...fields.map((f) => `${a}.${f}`), ...fields.map((f) => `${b}.${f}`)]);
    for (const row of rows) {
      expect(row[`${b}.label`]).toBe(row[`${a}.label`] === 'negative' ? 'neutral' : row[`${a}.label`]);
      expect(row[`${a}.custom_id`]).toBe(row[`${b}.custom_id`]);
    }
    expect(rows.some((r) => r[`${a}.label`] !== r[`${b}.label`])).toBe(true);
    expect(isModelsSummary(summary)).toBe(true);
    expect(summary).toMatchObject({ records: 12, succeeded: 12, failed: 0, batches: 6, outputs: { output: out } });
    expect(summary.models.map((m) => [m.model, m.alias, m.summary.succeeded, m.summary.batches])).toEqual([
      [SMALL, a, 12, 3],
      [LARGE, b, 12, 3],
    ]);
    expect(summary.promptTokens).toBe(summary.models[0]!.summary.promptTokens + summary.models[1]!.summary.promptTokens);
    expect(summary.spend.models.map((m) => m.model)).toEqual([SMALL, LARGE]);
    // The agreement is eval's kappa with one model as gold and the other as prediction, over the same rows.
    const expected = await evaluate(rows, { gold: `${a}.label`, pred: `${b}.label`, error: `${b}.error`, labels: LABELS });
    expect(summary.agreement).toEqual([{ a, b, kappa: expected.kappa, agreement: expected.accuracy, scored: 12 }]);
    expect(summary.agreement[0]!.kappa).toBeLessThan(1);
    expect(formatModelsSummary(summary)).toContain(`agreement ${a} vs ${b}: kappa`);
    expect(await isRunJob(join(dir, 'job'))).toBe(true);
  });

  it('gives each model its figures against a gold column, as evaluate() computes them from the output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 10);
    const out = join(dir, 'both.jsonl');
    const summary = (await runJob({ ...base, input, output: out, jobDir: join(dir, 'job'), gold: 'gold' } as RunJobOptions)) as ModelsSummary;
    const rows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(10);
    for (const [alias, e] of Object.entries(summary.evaluations!)) {
      const expected = await evaluate(rows, { gold: 'gold', pred: `${alias}.label`, error: `${alias}.error`, confidence: `${alias}.confidence`, labels: LABELS });
      expect(e).toEqual(expected);
    }
    expect(Object.keys(summary.evaluations!)).toEqual(['Meta-Llama-3.1-8B-Instruct-Turbo', 'Meta-Llama-3.3-70B-Instruct-Turbo']);
    expect(JSON.parse(await readFile(join(dir, 'job', 'eval.json'), 'utf8'))).toEqual({ evaluations: summary.evaluations, agreement: summary.agreement });
  });

  it("reports no single evaluation for the run: each model's stays under models[] and the text names each model", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 6);
    const summary = (await runJob({ ...base, input, jobDir: join(dir, 'job'), gold: 'gold' } as RunJobOptions)) as ModelsSummary;
    expect(summary.eval).toBeUndefined();
    expect(summary.costPerCorrect).toBeUndefined();
    expect(summary.models.map((m) => m.summary.eval?.gold)).toEqual(['gold', 'gold']);
    const text = formatModelsSummary(summary);
    expect(text).not.toContain('eval against gold');
    expect(text).toContain('model Meta-Llama-3.1-8B-Instruct-Turbo (klusterai/Meta-Llama-3.1-8B-Instruct-Turbo): 6 succeeded, 0 failed');
    expect(text).toMatch(/model Meta-Llama-3.3-70B-Instruct-Turbo .*; accuracy /);
  });

  it('continues from the job directory alone: resumeRun rewrites the same rows without creating a batch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 7);
    const jobDir = join(dir, 'job');
    await runJob({ ...base, input, jobDir });
    const first = await readFile(join(jobDir, 'output.jsonl'), 'utf8');
    const before = emu.stats().batchesCreated;
    const again = await resumeRun(jobDir, { client: base.client, pollIntervalMs: 20 });
    expect(emu.stats().batchesCreated).toBe(before);
    expect(again).toMatchObject({ records: 7, succeeded: 7, resumed: true });
    expect(await readFile(join(jobDir, 'output.jsonl'), 'utf8')).toBe(first);
  });

  it('yields the combined rows from runRecords', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const records = TEXTS.map((text, i) => ({ n: i, text }));
    const rows: Record<string, unknown>[] = [];
    const run = runRecords({ ...base, input: records, jobDir: join(dir, 'job'), modelConcurrency: 2 });
    for await (const row of run) rows.push(row);
    expect(rows.map((r) => r['n'])).toEqual([0, 1, 2, 3, 4]);
    expect(rows[1]).toMatchObject({ text: TEXTS[1], 'Meta-Llama-3.1-8B-Instruct-Turbo.label': 'negative', 'Meta-Llama-3.3-70B-Instruct-Turbo.label': 'neutral' });
  });

  it('refuses a model listed twice with OPTION_INVALID before anything is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 2);
    const err = await catchError(() => runJob({ ...base, input, models: [SMALL, SMALL], jobDir: join(dir, 'job') }));
    expectKbatchError(err, { code: 'OPTION_INVALID' });
    expect((err as Error).message).toContain('`models`');
    expect(await isRunJob(join(dir, 'job'))).toBe(false);
  });

  it('refuses another model list on an existing job with JOB_MISMATCH', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 2);
    await runJob({ ...base, input, jobDir: join(dir, 'job') });
    const err = await catchError(() => runJob({ ...base, input, models: [LARGE, SMALL], jobDir: join(dir, 'job') }));
    expectKbatchError(err, { code: 'JOB_MISMATCH' });
  });

  it('checks --max-cost over all models before any batch is created (COST_UNKNOWN without a batch price)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 3);
    const before = emu.stats().batchesCreated;
    const err = await catchError(() => runJob({ ...base, input, maxCost: 5, jobDir: join(dir, 'job') }));
    expectKbatchError(err, { code: 'COST_UNKNOWN' });
    expect(emu.stats().batchesCreated).toBe(before);
  });

  it('runs several models realtime the same way: each record sent once per model, rows in input order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 9);
    const chats = emu.stats().chatRequests;
    const summary = (await runJob({ ...base, input, mode: 'realtime', cache: false, jobDir: join(dir, 'job') })) as ModelsSummary;
    expect(emu.stats().chatRequests - chats).toBe(18);
    expect(summary).toMatchObject({ records: 9, succeeded: 9, realtimeRequests: 18, batches: 0, mode: 'realtime' });
    const rows = (await readFile(join(dir, 'job', 'output.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r['id'])).toEqual(Array.from({ length: 9 }, (_, i) => `r${i + 1}`));
    expect(rows.every((r) => r['Meta-Llama-3.3-70B-Instruct-Turbo.label'] !== 'negative')).toBe(true);
  });

  it('keeps a record skipped while preparing as one row, failed for every model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = join(dir, 'ragged.csv');
    await writeFile(input, 'id,text\nr1,good\nr2,bad,extra\nr3,great\n');
    const summary = (await runJob({ ...base, input, onInvalidRecord: 'skip', cache: false, jobDir: join(dir, 'job') })) as ModelsSummary;
    expect(summary).toMatchObject({ records: 3, succeeded: 2, failed: 1, skipped: 1 });
    const rows = (await readFile(join(dir, 'job', 'output.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r['id'])).toEqual(['r1', 'r2', 'r3']);
    expect(String(rows[1]!['Meta-Llama-3.1-8B-Instruct-Turbo.error'])).toContain('RECORD_INVALID');
    expect(String(rows[1]!['Meta-Llama-3.3-70B-Instruct-Turbo.error'])).toContain('RECORD_INVALID');
  });

  it('keeps single-model and several-model jobs apart with JOB_MISMATCH, and never writes the output over models.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 2);
    const { models: _models, ...one } = base;
    await runJob({ ...one, model: SMALL, input, jobDir: join(dir, 'single') });
    expectKbatchError(await catchError(() => runJob({ ...base, input, jobDir: join(dir, 'single') })), { code: 'JOB_MISMATCH' });
    await runJob({ ...base, input, jobDir: join(dir, 'both') });
    expectKbatchError(await catchError(() => runJob({ ...one, model: SMALL, input, jobDir: join(dir, 'both') })), { code: 'JOB_MISMATCH' });
    const err = await catchError(() => runJob({ ...base, input, jobDir: join(dir, 'both'), output: join(dir, 'both', 'models.json') }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'output' });
  });

  it('refuses unordered with several models with OPTION_INVALID naming both options, before anything is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = await reviewsCsv(dir, 2);
    const chats = emu.stats().chatRequests;
    const err = await catchError(() => runJob({ ...base, input, mode: 'realtime', unordered: true, jobDir: join(dir, 'job') }));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'unordered', message: '`models`' });
    expect(emu.stats().chatRequests).toBe(chats);
    expect(await isRunJob(join(dir, 'job'))).toBe(false);
  });

  it('counts a malformed record skipped while preparing as unscored against gold, on the run and on its resume', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = join(dir, 'ragged.csv');
    // r2 cannot be parsed: its row has none of the input's fields, the gold column included.
    await writeFile(input, 'id,text,gold\nr1,good,positive\nr2,"bad"x,negative\nr3,great,positive\n');
    const jobDir = join(dir, 'job');
    const options = { ...base, input, onInvalidRecord: 'skip', cache: false, jobDir, gold: 'gold' } as RunJobOptions;
    const summary = (await runJob(options)) as ModelsSummary;
    expect(summary).toMatchObject({ records: 3, succeeded: 2, skipped: 1 });
    for (const e of Object.values(summary.evaluations!)) expect(e).toMatchObject({ n: 3, scored: 2 });
    const rows = (await readFile(join(jobDir, 'output.jsonl'), 'utf8')).trim().split('\n');
    expect(rows).toHaveLength(3);
    const again = (await resumeRun(jobDir, { client: base.client, pollIntervalMs: 20 })) as ModelsSummary;
    expect(again.evaluations).toEqual(summary.evaluations);
  });

  it('counts a JSON Lines record without the gold field as unscored for every model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = join(dir, 'reviews.jsonl');
    await writeFile(input, '{"id":"r1","text":"I love it","gold":"positive"}\n{"id":"r2","text":"awful"}\n{"id":"r3","text":"great","gold":"positive"}\n');
    const warnings: string[] = [];
    const summary = (await runJob({ ...base, input, cache: false, jobDir: join(dir, 'job'), gold: 'gold', onWarning: (m: string) => warnings.push(m) } as RunJobOptions)) as ModelsSummary;
    expect(summary).toMatchObject({ records: 3, succeeded: 3 });
    for (const e of Object.values(summary.evaluations!)) expect(e).toMatchObject({ n: 3, scored: 2, correct: 2 });
    expect(warnings.filter((w) => w.includes('no figures'))).toEqual([]);
  });

  it("refuses an input column named as a model's field with JOIN_FIELD_COLLISION before anything is sent", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const input = join(dir, 'clash.csv');
    await writeFile(input, 'id,text,Meta-Llama-3.3-70B-Instruct-Turbo.label\nr1,good,x\n');
    const before = emu.stats().batchesCreated;
    const err = await catchError(() => runJob({ ...base, input, jobDir: join(dir, 'job') }));
    expectKbatchError(err, { code: 'JOIN_FIELD_COLLISION', field: 'Meta-Llama-3.3-70B-Instruct-Turbo.label', message: '--prefix kb_' });
    expect(emu.stats().batchesCreated).toBe(before);
    const summary = await runJob({ ...base, input, prefix: 'kb_', jobDir: join(dir, 'job') });
    expect(summary).toMatchObject({ records: 1, succeeded: 1 });
  });

  it("keeps the input's columns in the combined CSV with 0 records and when the first record is malformed", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-models-'));
    const a = 'Meta-Llama-3.1-8B-Instruct-Turbo';
    const empty = join(dir, 'empty.csv');
    await writeFile(empty, 'id,text,gold\n');
    await runJob({ ...base, input: empty, output: join(dir, 'empty-out.csv'), jobDir: join(dir, 'job-empty') });
    const header = (await readFile(join(dir, 'empty-out.csv'), 'utf8')).split('\n')[0]!.split(',');
    expect(header.slice(0, 4)).toEqual(['id', 'text', 'gold', `${a}.custom_id`]);
    const ragged = join(dir, 'ragged.csv');
    // The first record is short (no gold cell): the header must still come from the input's, not from its row.
    await writeFile(ragged, 'id,text,gold\nr1,bad\nr2,great,positive\n');
    await runJob({ ...base, input: ragged, onInvalidRecord: 'skip', cache: false, output: join(dir, 'ragged-out.csv'), jobDir: join(dir, 'job-ragged') });
    const rows = parse(await readFile(join(dir, 'ragged-out.csv')), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!).slice(0, 4)).toEqual(['id', 'text', 'gold', `${a}.custom_id`]);
    expect(rows[1]).toMatchObject({ id: 'r2', text: 'great', gold: 'positive', [`${a}.label`]: 'positive' });
    // A first record that cannot be parsed has none of the input's fields: they are still columns.
    const broken = join(dir, 'broken.csv');
    await writeFile(broken, 'id,text,gold\nr1,"bad"x,negative\nr2,great,positive\n');
    await runJob({ ...base, input: broken, onInvalidRecord: 'skip', cache: false, output: join(dir, 'broken-out.csv'), jobDir: join(dir, 'job-broken') });
    const fixed = parse(await readFile(join(dir, 'broken-out.csv')), { columns: true }) as Record<string, string>[];
    expect(fixed[1]).toMatchObject({ id: 'r2', text: 'great', gold: 'positive', [`${a}.label`]: 'positive' });
  });
});
