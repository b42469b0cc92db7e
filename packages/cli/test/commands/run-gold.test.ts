import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { runCli } from './job-fixtures.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const ARGS = ['--model', MODEL, '--prompt', 'Review: {{text}}', '--labels', 'positive,negative,neutral', '--poll-interval', '20ms', '--no-cache'];

describe('kbatch run --gold', () => {
  const started: Emulator[] = [];
  afterAll(async () => {
    await Promise.all(started.map((e) => e.close()));
  });
  async function setup(): Promise<{ env: Record<string, string>; cwd: string }> {
    const emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 7 });
    started.push(emu);
    return { env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: emu.baseURL }, cwd: await mkdtemp(join(tmpdir(), 'kbatch-run-gold-')) };
  }

  it('gives the same figures as kbatch eval on its output, in the json summary and job/eval.json', async () => {
    const { env, cwd } = await setup();
    const run = await runCli(['run', REVIEWS, ...ARGS, '--logprobs', '--gold', 'sentiment', '--output', 'out.csv', '--job-dir', 'job', '--progress', 'json'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stderr.trim().split('\n').at(-1)!);
    const evaluated = await runCli(['eval', 'out.csv', '--gold', 'sentiment', '--labels', 'positive,negative,neutral', '--json'], { cwd });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const figures = JSON.parse(evaluated.stdout);
    expect(summary.eval).toEqual(figures);
    expect(figures.n).toBe(30);
    expect(figures.calibration).toBeDefined();
    // The emulator's model has no price: the cost per correct label is unknown, never 0.
    expect(summary.costPerCorrect).toBeNull();
    expect(JSON.parse(await readFile(join(cwd, 'job', 'eval.json'), 'utf8'))).toEqual({ ...figures, cost_per_correct: null });
    // The gold column is an input field like the others: a request carries only what the prompt names.
    const chunk = await readFile(join(cwd, 'job', 'chunks', (await readdir(join(cwd, 'job', 'chunks')))[0]!), 'utf8');
    expect(chunk).not.toContain('sentiment');
  });

  it('prints a short evaluation block with the confusion matrix in the text summary', async () => {
    const { env, cwd } = await setup();
    const run = await runCli(['run', REVIEWS, ...ARGS, '--gold', 'sentiment', '--output', 'out.jsonl', '--job-dir', 'job'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/eval against gold "sentiment": accuracy \d\.\d{3} \(\d+\/30\)  macro-F1 \d\.\d{3}  kappa -?\d\.\d{3}\n  30 scored, 0 unscored; cost per correct label unknown\n  gold \\ pred  positive  negative  neutral\n  positive +\d+/);
  });

  it('refuses a gold column the input lacks with EVAL_COLUMN_MISSING before anything is uploaded', async () => {
    const { env, cwd } = await setup();
    const run = await runCli(['run', REVIEWS, ...ARGS, '--gold', 'stars', '--job-dir', 'job'], { env, cwd });
    expect(run.code).toBe(1);
    expect(run.error).toMatchObject({ code: 'EVAL_COLUMN_MISSING', message: `${REVIEWS} line 1 (header) has no column "stars" (--gold); its columns are: id, text, sentiment` });
    expect(run.stderr).not.toContain('uploaded');
    await expect(stat(join(cwd, 'job', 'manifest.json'))).rejects.toThrow();
  });

  it('warns when the prompt shows the gold column to the model', async () => {
    const { env, cwd } = await setup();
    const args = ARGS.map((a) => (a === 'Review: {{text}}' ? 'Review: {{text}} ({{sentiment}})' : a));
    const run = await runCli(['run', REVIEWS, ...args, '--gold', 'sentiment', '--output', 'out.jsonl', '--job-dir', 'job'], { env, cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('warning: the prompt uses the gold column "sentiment": the model sees the answer it is evaluated against');
  });
});
