import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { recordStream, type EvalResult, type SourceRecord } from '@kbatch/core';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/spawn.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABELS = 'positive,negative,neutral';

// Seven joined rows: 5 scored (gold × pred: pos/pos ×2, pos/neg, neg/neg, neu/pos), one failed, one empty prediction.
const ROWS = [
  { id: 1, gold: 'positive', label: 'positive', confidence: 0.95, error: null, lang: 'en' },
  { id: 2, gold: 'positive', label: 'positive', confidence: 0.85, error: null, lang: 'fr' },
  { id: 3, gold: 'positive', label: 'negative', confidence: 0.65, error: null, lang: 'en' },
  { id: 4, gold: 'negative', label: 'negative', confidence: 0.75, error: null, lang: 'fr' },
  { id: 5, gold: 'neutral', label: 'positive', confidence: 0.55, error: null, lang: 'en' },
  { id: 6, gold: 'neutral', label: null, confidence: null, error: 'HTTP 500: upstream failed', lang: 'en' },
  { id: 7, gold: 'negative', label: '', confidence: null, error: null, lang: 'fr' },
];

async function fixture(): Promise<string> {
  const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cli-eval-'));
  await writeFile(join(cwd, 'out.jsonl'), ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return cwd;
}

describe('kbatch eval', () => {
  it('prints the figures as one JSON object with --json (hand-computed)', async () => {
    const cwd = await fixture();
    const run = await runCli(['eval', 'out.jsonl', '--gold', 'gold', '--labels', LABELS, '--json'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout) as EvalResult;
    // 3 right of 5 scored; unscored: 1 failed, 1 empty.
    expect([r.n, r.scored, r.unscored, r.accuracy]).toEqual([7, 5, 2, 0.6]);
    expect(r.unscored_by_reason).toMatchObject({ failed: 1, empty: 1 });
    // positive: tp 2, predicted 3, support 3 → P 2/3, R 2/3, F1 2/3. negative: tp 1, predicted 2, support 1 → P 0.5, R 1,
    // F1 2/3. neutral: tp 0, predicted 0, support 1 → 0, 0, 0. Macro-F1 = (2/3 + 2/3 + 0) / 3 = 4/9.
    expect(r.per_label).toEqual({
      positive: { precision: 2 / 3, recall: 2 / 3, f1: 2 / 3, support: 3 },
      negative: { precision: 0.5, recall: 1, f1: 2 / 3, support: 1 },
      neutral: { precision: 0, recall: 0, f1: 0, support: 1 },
    });
    expect(r.macro_f1).toBeCloseTo(4 / 9, 12);
    // pe = (3·3 + 1·2 + 1·0) / 25 = 0.44; kappa = (0.6 − 0.44) / 0.56 = 2/7
    expect(r.kappa).toBeCloseTo(2 / 7, 12);
    expect(r.confusion).toEqual({
      positive: { positive: 2, negative: 1, neutral: 0 },
      negative: { positive: 0, negative: 1, neutral: 0 },
      neutral: { positive: 1, negative: 0, neutral: 0 },
    });
    // One row in each of the 0.5–0.9 bins: right at 0.95, 0.85, 0.75, wrong at 0.65, 0.55.
    // ECE = (0.05 + 0.15 + 0.25 + 0.65 + 0.55) / 5 = 0.33
    expect(r.calibration?.ece).toBeCloseTo(0.33, 12);
    expect(r.coverage?.[5]).toEqual({ coverage: 0.6, threshold: 0.75, answered: 3, accuracy: 1 });
  });

  it('prints a readable table with the confusion matrix, per --by value too', async () => {
    const cwd = await fixture();
    const run = await runCli(['eval', 'out.jsonl', '--gold', 'gold', '--labels', LABELS, '--by', 'lang', '--target-accuracy', '0.9'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('rows 7: 5 scored, 2 unscored (1 failed, 1 empty)\naccuracy 0.600 (3/5)  macro-F1 0.444  kappa 0.286');
    expect(run.stdout).toContain(
      ['gold \\ pred  positive  negative  neutral', 'positive            2         1        0', 'negative            0         1        0', 'neutral             1         0        0'].join('\n'),
    );
    // ≥ 0.75 answers rows 1, 2, 4: all right; ≥ 0.65 adds a wrong one (3/4 < 0.9).
    expect(run.stdout).toContain('target accuracy 0.9: confidence >= 0.750 answers 3 rows (60.0%) at accuracy 1.000');
    expect(run.stdout).toContain('== lang = "en"\nrows 4: 3 scored, 1 unscored (1 failed)');
    expect(run.stdout).toContain('== lang = "fr"\nrows 3: 2 scored, 1 unscored (1 empty)');
  });

  it('writes the scored rows where prediction and gold differ with --disagreements, in the input format', async () => {
    const cwd = await fixture();
    const run = await runCli(['eval', 'out.jsonl', '--gold', 'gold', '--disagreements', 'wrong.jsonl', '--json'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const lines = (await readFile(join(cwd, 'wrong.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: number });
    expect(lines.map((l) => l.id)).toEqual([3, 5]);
  });

  it('finds the prediction, confidence and error columns under --prefix', async () => {
    const cwd = await fixture();
    const prefixed = ROWS.map(({ id, gold, label, confidence, error }) => ({ id, gold, kb_label: label, kb_confidence: confidence, kb_error: error }));
    await writeFile(join(cwd, 'kb.jsonl'), prefixed.map((r) => JSON.stringify(r)).join('\n'));
    const run = await runCli(['eval', 'kb.jsonl', '--gold', 'gold', '--prefix', 'kb_', '--json'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout) as EvalResult;
    expect([r.pred, r.scored, r.unscored_by_reason.failed, r.calibration?.n]).toEqual(['kb_label', 5, 1, 5]);
  });

  it('refuses a --disagreements file that is the input (exit 2), leaving the input intact', async () => {
    const cwd = await fixture();
    const before = await readFile(join(cwd, 'out.jsonl'), 'utf8');
    const run = await runCli(['eval', 'out.jsonl', '--gold', 'gold', '--disagreements', './out.jsonl'], { cwd });
    expect([run.code, run.stderr]).toEqual([2, 'error [OPTION_INVALID]: Invalid option `--disagreements`: must not be the input file, got "' + join(cwd, 'out.jsonl') + '"\n']);
    expect(await readFile(join(cwd, 'out.jsonl'), 'utf8')).toBe(before);
  });

  it('refuses a --disagreements symlink to the input (exit 2), leaving the input intact', async () => {
    const cwd = await fixture();
    const before = await readFile(join(cwd, 'out.jsonl'), 'utf8');
    await symlink(join(cwd, 'out.jsonl'), join(cwd, 'link.jsonl'));
    const run = await runCli(['eval', 'out.jsonl', '--gold', 'gold', '--disagreements', 'link.jsonl'], { cwd });
    expect([run.code, run.stderr]).toEqual([2, 'error [OPTION_INVALID]: Invalid option `--disagreements`: must not be the input file, got "' + join(cwd, 'link.jsonl') + '"\n']);
    expect(await readFile(join(cwd, 'out.jsonl'), 'utf8')).toBe(before);
  });

  it('says --target-accuracy was not computed when no row has a confidence (text and JSON)', async () => {
    const cwd = await fixture();
    await writeFile(join(cwd, 'noconf.csv'), 'gold,label\na,a\na,b\n');
    const text = await runCli(['eval', 'noconf.csv', '--gold', 'gold', '--target-accuracy', '0.9'], { cwd });
    expect(text.stdout).toContain('target accuracy 0.9: not computed (no scored row has a confidence)');
    const json = await runCli(['eval', 'noconf.csv', '--gold', 'gold', '--target-accuracy', '0.9', '--json'], { cwd });
    expect((JSON.parse(json.stdout) as EvalResult).target).toMatchObject({ threshold: null, not_computed: 'no scored row has a confidence' });
  });

  it('prints a label and a --by group named "__proto__" (text and JSON)', async () => {
    const cwd = await fixture();
    await writeFile(join(cwd, 'proto.jsonl'), '{"gold":"__proto__","label":"__proto__","g":"__proto__"}\n{"gold":"a","label":"a","g":"x"}\n');
    const args = ['eval', 'proto.jsonl', '--gold', 'gold', '--labels', '__proto__,a', '--by', 'g'];
    const json = JSON.parse((await runCli([...args, '--json'], { cwd })).stdout) as EvalResult;
    expect([Object.keys(json.per_label), Object.keys(json.by!.groups), json.confusion['__proto__']]).toEqual([['__proto__', 'a'], ['__proto__', 'x'], JSON.parse('{"__proto__":1,"a":0}')]);
    expect((await runCli(args, { cwd })).stdout).toContain('== g = "__proto__"');
  });

  it('reads stdin with --format', async () => {
    const run = await runCli(['eval', '-', '--format', 'csv', '--gold', 'g', '--pred', 'p', '--json'], { stdin: 'g,p\na,a\na,b\n' });
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as EvalResult).accuracy).toBe(0.5);
  });

  it('reports bad input naming the file, row and column (exit 1) and bad flags (exit 2)', async () => {
    const cwd = await fixture();
    const missing = await runCli(['eval', 'out.jsonl', '--gold', 'truth'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error [EVAL_COLUMN_MISSING]: ${join(cwd, 'out.jsonl')} line 1 (row 1) has no column "truth" (--gold); its columns are: id, gold, label, confidence, error, lang\n`);
    await writeFile(join(cwd, 'bad.jsonl'), '{"gold":"a","label":"a","confidence":7}\n');
    const confidence = await runCli(['eval', 'bad.jsonl', '--gold', 'gold'], { cwd });
    expect([confidence.code, confidence.stderr]).toEqual([1, `error [RECORD_INVALID]: ${join(cwd, 'bad.jsonl')} line 1 (row 1): column "confidence" must be a confidence between 0 and 1, got 7\n`]);
    const target = await runCli(['eval', 'out.jsonl', '--gold', 'gold', '--target-accuracy', 'high'], { cwd });
    expect([target.code, target.stderr]).toEqual([2, 'error [OPTION_INVALID]: Invalid option `--target-accuracy`: must be a number between 0 and 1, got "high"\n']);
    const noGold = await runCli(['eval', 'out.jsonl'], { cwd });
    expect(noGold.code).toBe(2);
    expect(noGold.stderr).toContain("required option '--gold <column>' not specified");
    const noFile = await runCli(['eval', 'nope.jsonl', '--gold', 'gold'], { cwd });
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toContain('error [INPUT_NOT_FOUND]');
  });

  it("agrees with the figures counted from a run's output on the example reviews (gold column sentiment)", async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cli-eval-run-'));
    const args = ['run', REVIEWS, '--local', '--model', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', '--prompt', 'Review: {{text}}', '--labels', LABELS, '--logprobs', '--output', 'out.csv', '--quiet'];
    const run = await runCli(args, { cwd, timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const evaluated = await runCli(['eval', 'out.csv', '--gold', 'sentiment', '--labels', LABELS, '--json'], { cwd });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const r = JSON.parse(evaluated.stdout) as EvalResult;
    // Counted here independently: accuracy, kappa and the confusion matrix from the output's rows.
    const rows: Record<string, unknown>[] = [];
    for await (const record of recordStream({ input: Readable.from([await readFile(join(cwd, 'out.csv'))]), format: 'csv' }) as AsyncIterable<SourceRecord>) rows.push(record.data);
    const labels = LABELS.split(',');
    const count = (g: string, p: string) => rows.filter((row) => row['sentiment'] === g && row['label'] === p).length;
    const right = labels.reduce((sum, l) => sum + count(l, l), 0);
    const pe = labels.reduce((sum, l) => sum + rows.filter((row) => row['sentiment'] === l).length * rows.filter((row) => row['label'] === l).length, 0) / rows.length ** 2;
    expect([r.n, r.scored, r.accuracy]).toEqual([30, 30, right / 30]);
    expect(r.kappa).toBeCloseTo((right / 30 - pe) / (1 - pe), 12);
    expect(r.confusion).toEqual(Object.fromEntries(labels.map((g) => [g, Object.fromEntries(labels.map((p) => [p, count(g, p)]))])));
    expect(r.calibration?.n).toBe(30);
  });
});
