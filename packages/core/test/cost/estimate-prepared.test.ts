import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createClient } from '../../src/client/index.js';
import { runJob, type RunJobOptions } from '../../src/internal.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
// kluster's batch price is not in kbatch's table: the user's row makes the budget checkable.
const PRICES = [{ providers: ['kluster'], model: MODEL, mode: 'batch', currency: 'USD', inputPerMTok: 0.05, outputPerMTok: 0.05, source: 'https://example.test/kluster-batch', checked: '2026-12-01' }];

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 4 });
});
afterAll(async () => {
  await emu.close();
});

async function setup(n: number): Promise<{ dir: string; file: string; given: RunJobOptions }> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-budget-'));
  const file = join(dir, 'reviews.csv');
  await writeFile(file, `id,text\n${Array.from({ length: n }, (_, i) => `r${i + 1},"review ${i + 1}, fine"`).join('\n')}\n`);
  const given: RunJobOptions = { client: createClient({ apiKey: 'k', baseURL: emu.baseURL }), provider: 'kluster', model: MODEL, pollIntervalMs: 20, input: file, cwd: dir, prompt: 'Review: {{text}}', labels: ['positive', 'negative'], maxCompletionTokens: 5, cache: join(dir, 'cache'), prices: PRICES };
  return { dir, file, given };
}

const sent = (): number[] => [emu.stats().filesCreated, emu.stats().batchesCreated];

describe('maxCost on a prepared job (estimatePrepared)', () => {
  it('refuses a rerun of a prepared, never-uploaded job whose requests another job has since cached: its chunks are what it would send', async () => {
    const { dir, given } = await setup(4);
    expectKbatchError(await catchError(() => runJob({ ...given, maxCost: 1e-9, jobDir: join(dir, 'a') })), { code: 'BUDGET_EXCEEDED', message: /of 4 requests to/ });
    // Job b answers the same requests: the cache now holds them all.
    expect(await runJob({ ...given, jobDir: join(dir, 'b'), output: join(dir, 'b.jsonl') })).toMatchObject({ succeeded: 4, cached: 0 });
    const before = sent();
    const err = await catchError(() => runJob({ ...given, maxCost: 1e-9, jobDir: join(dir, 'a'), output: join(dir, 'a.jsonl') }));
    expectKbatchError(err, { code: 'BUDGET_EXCEEDED', field: 'maxCost', message: /of 4 requests to .*nothing was uploaded or sent/ });
    expect(sent()).toEqual(before);
  });

  it('does not refuse a rerun whose cached requests were diverted when it was prepared, after the cache was cleared', async () => {
    const { dir, file, given } = await setup(4);
    await runJob({ ...given, jobDir: join(dir, 'b'), output: join(dir, 'b.jsonl') });
    await writeFile(file, 'id,text\nr1,"review 1, fine"\nr2,"review 2, fine"\nr3,"review 3, fine"\nr4,"review 4, fine"\nr5,"review 5, new"\n');
    // Prepared with 4 of 5 answered by the cache: only 1 request in its chunks.
    expectKbatchError(await catchError(() => runJob({ ...given, maxCost: 1e-9, jobDir: join(dir, 'a') })), { code: 'BUDGET_EXCEEDED', message: /of 1 requests \(4 more answered by the cache\)/ });
    await rm(join(dir, 'cache'), { recursive: true, force: true });
    // A cap that 1 request fits under and 5 would not: the job sends its 1 request and joins the 4 it holds.
    const all = (await runJob({ ...given, dryRun: true, cache: false })).estimate!.cost.worst_case!;
    const summary = await runJob({ ...given, maxCost: all / 2, jobDir: join(dir, 'a'), output: join(dir, 'a.jsonl') });
    expect(summary).toMatchObject({ records: 5, succeeded: 5, cached: 4, estimate: { requests: 5, cached_requests: 4, batches: 1 } });
  });

  it('checks an auto-mode job in the mode it settled (batch), not the mode the cache would choose now', async () => {
    const { dir, given } = await setup(4);
    const auto = { ...given, mode: 'auto', autoThreshold: 2 } as const;
    expectKbatchError(await catchError(() => runJob({ ...auto, maxCost: 1e-9, jobDir: join(dir, 'a') })), { code: 'BUDGET_EXCEEDED', message: /\(batch, window 24h\)/ });
    // Every request but one cached by another job: a fresh estimate would choose realtime (1 < 2) and skip the check.
    await writeFile(join(dir, 'three.csv'), 'id,text\nr1,"review 1, fine"\nr2,"review 2, fine"\nr3,"review 3, fine"\n');
    await runJob({ ...given, input: join(dir, 'three.csv'), mode: 'realtime', jobDir: join(dir, 'b'), output: join(dir, 'b.jsonl') });
    const before = sent();
    expectKbatchError(await catchError(() => runJob({ ...auto, maxCost: 1e-9, jobDir: join(dir, 'a') })), { code: 'BUDGET_EXCEEDED', message: /of 4 requests to .*\(batch, window 24h\)/ });
    expect(sent()).toEqual(before);
  });
});
