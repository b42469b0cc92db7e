import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkGoldColumn, costPerCorrect, goldInTemplate, runEvaluation } from '../../src/eval/run-evaluation.js';
import { evaluate } from '../../src/eval/evaluate.js';
import type { Spend } from '../../src/cost/spend-types.js';
import { expectKbatchError } from '../helpers/errors.js';

const spend = (cost: number | null, unpriced: string[] = []): Spend => ({ currency: 'USD', models: [], cost, unpriced, batchSaved: null, cacheSaved: null, prices: null });

describe('runEvaluation', () => {
  it('gives what evaluate gives for the same rows, with the prefixed column names', async () => {
    const rows = [
      { gold: 'a', kb_label: 'a', kb_confidence: 0.9, kb_error: null },
      { gold: 'a', kb_label: 'b', kb_confidence: 0.6, kb_error: null },
      { gold: 'b', kb_label: null, kb_confidence: null, kb_error: 'HTTP 500: failed' },
    ];
    const evaluation = runEvaluation({ gold: 'gold', prefix: 'kb_' });
    for (const row of rows) evaluation.add(row);
    expect(evaluation.result()).toEqual(await evaluate(rows, { gold: 'gold', pred: 'kb_label', confidence: 'kb_confidence', error: 'kb_error' }));
  });

  it('counts a row without the gold or label column as unscored instead of stopping the join', () => {
    const evaluation = runEvaluation({ gold: 'gold', prefix: '' });
    evaluation.add({ gold: 'a', label: 'a', error: null });
    evaluation.add({ text: 'a JSON record without gold', label: 'a', error: null });
    evaluation.add({ gold: 'a', error: 'RECORD_INVALID: malformed' });
    expect(evaluation.result()).toMatchObject({ n: 3, scored: 1, unscored_by_reason: { no_gold: 1, failed: 1 } });
  });

  it('keeps the first failure for result() and never throws from add', () => {
    const evaluation = runEvaluation({ gold: 'gold', prefix: '' });
    for (let i = 0; i <= 1001; i++) evaluation.add({ gold: `g${i}`, label: `p${i}`, error: null });
    let err: unknown;
    try {
      evaluation.result();
    } catch (e) {
      err = e;
    }
    expectKbatchError(err, { code: 'EVAL_TOO_MANY_LABELS' });
  });
});

describe('costPerCorrect', () => {
  const result = { correct: 4 } as Parameters<typeof costPerCorrect>[1];
  it('divides a known cost by the correct labels', () => {
    expect(costPerCorrect(spend(0.02), result)).toBe(0.005);
  });
  it('is null (never 0) when a price is unknown or nothing was correct', () => {
    expect(costPerCorrect(spend(null), result)).toBeNull();
    expect(costPerCorrect(spend(0.02, ['kluster/m (batch)']), result)).toBeNull();
    expect(costPerCorrect(spend(0.02), { ...result, correct: 0 })).toBeNull();
  });
});

describe('checkGoldColumn', () => {
  it('names the file, the column and the columns of a CSV header without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-gold-'));
    await writeFile(join(dir, 'in.csv'), 'id,text\n1,hi\n');
    const err = await checkGoldColumn({ input: join(dir, 'in.csv') }, 'sentiment').catch((e: unknown) => e);
    expectKbatchError(err, { code: 'EVAL_COLUMN_MISSING', message: `${join(dir, 'in.csv')} line 1 (header) has no column "sentiment" (--gold); its columns are: id, text` });
  });

  it('checks the first record of a JSON Lines input, and passes one that has it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-gold-'));
    await writeFile(join(dir, 'in.jsonl'), '{"text":"hi","gold":"a"}\n');
    await expect(checkGoldColumn({ input: join(dir, 'in.jsonl') }, 'gold')).resolves.toBeUndefined();
    const err = await checkGoldColumn({ input: join(dir, 'in.jsonl') }, 'label_gold').catch((e: unknown) => e);
    expectKbatchError(err, { code: 'EVAL_COLUMN_MISSING' });
  });
});

describe('goldInTemplate', () => {
  it('is true only when a template names the gold column', () => {
    expect(goldInTemplate(['Review: {{text}}', undefined], 'gold')).toBe(false);
    expect(goldInTemplate(['Review: {{text}}', 'Hint: {{ gold }}'], 'gold')).toBe(true);
  });
});
