import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/eval/evaluate.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const LABELS = ['positive', 'negative', 'neutral'];

// Joined rows as a labels join writes them: label (null when failed or invalid), confidence, error.
const row = (gold: unknown, label: unknown, extra: Record<string, unknown> = {}) => ({ gold, label, confidence: null, error: null, ...extra });

async function* asyncRows<T>(rows: T[]): AsyncGenerator<T> {
  for (const r of rows) yield r;
}

describe('evaluate', () => {
  it('counts rows without a usable prediction by reason and scores the rest (async iterable)', async () => {
    const rows = [
      row('positive', 'positive'),
      row('negative', 'positive'),
      row('negative', null, { error: 'HTTP 500: upstream failed' }),
      row('negative', null, { error: 'invalid answer: answer "maybe" is not one of the labels positive, negative, neutral' }),
      row('neutral', null, { error: 'no result for this record (JOIN_MISSING_RESULT)' }),
      row('neutral', '  '),
      row('neutral', 'sarcastic'),
      row('', 'positive'),
      row('angry', 'positive'),
    ];
    const r = await evaluate(asyncRows(rows), { gold: 'gold', labels: LABELS });
    // 9 rows: 2 scored (1 right), 7 unscored, one per reason; nothing dropped.
    expect([r.n, r.scored, r.unscored, r.correct, r.accuracy]).toEqual([9, 2, 7, 1, 0.5]);
    expect(r.unscored_by_reason).toEqual({ failed: 1, invalid: 1, missing: 1, empty: 1, not_a_label: 1, no_gold: 1, gold_not_a_label: 1 });
    expect(r.calibration).toBeUndefined();
  });

  it('compares labels after the --labels normalisation, with and without a label list', async () => {
    // '"Positive."' and ' positive' are both `positive`; 'NEGATIVE!' is `negative`: 3 right of 3.
    const rows = [row('Positive', '"Positive."'), row('positive ', ' positive'), row('negative', 'NEGATIVE!')];
    const listed = await evaluate(rows, { gold: 'gold', labels: LABELS });
    expect([listed.accuracy, listed.labels]).toEqual([1, LABELS]);
    const unlisted = await evaluate(rows, { gold: 'gold' });
    // Without a list, a label is spelled as first seen (cleaned): 'Positive', then 'negative'.
    expect([unlisted.accuracy, unlisted.labels]).toEqual([1, ['Positive', 'negative']]);
    expect(unlisted.confusion).toEqual({ Positive: { Positive: 2, negative: 0 }, negative: { Positive: 0, negative: 1 } });
  });

  it('gives the figures per value of --by, and calibration, coverage and the target threshold with confidences', async () => {
    const rows = [
      row('positive', 'positive', { lang: 'en', confidence: 0.9 }),
      row('positive', 'negative', { lang: 'en', confidence: 0.6 }),
      row('negative', 'negative', { lang: 'fr', confidence: '0.8' }),
      row('negative', 'negative', { lang: null, confidence: '' }),
    ];
    const r = await evaluate(rows, { gold: 'gold', by: 'lang', targetAccuracy: 0.9 });
    // Overall: 3 right of 4; confidence on 3 of them (0.9 right, 0.8 right, 0.6 wrong) → ≥ 0.8 answers 2 at 1.0.
    expect([r.accuracy, r.calibration?.n, r.target]).toEqual([0.75, 3, { target_accuracy: 0.9, threshold: 0.8, answered: 2, coverage: 2 / 3, accuracy: 1 }]);
    // ECE: |1 − 0.9|/3 + |1 − 0.8|/3 + |0 − 0.6|/3 = 0.9 / 3 = 0.3
    expect(r.calibration?.ece).toBeCloseTo(0.3, 12);
    expect(Object.keys(r.by!.groups)).toEqual(['', 'en', 'fr']);
    expect(r.by!.column).toBe('lang');
    const en = r.by!.groups['en']!;
    // en: gold [pos, pos], pred [pos, neg] → accuracy 0.5; negative never gold: P 0 (0/1), R 0 (0/0), F1 0; kappa: pe = (2·1)/4 = 0.5, po 0.5 → 0.
    expect([en.n, en.accuracy, en.kappa, en.per_label['negative']]).toEqual([2, 0.5, 0, { precision: 0, recall: 0, f1: 0, support: 0 }]);
    expect(r.by!.groups['']!.calibration).toBeUndefined();
  });

  it('rejects a row without the gold or prediction column with EVAL_COLUMN_MISSING naming its columns (without --by: group "")', async () => {
    const gold = await catchError(() => evaluate([row('a', 'a'), { label: 'a', text: 'x' }], { gold: 'gold' }));
    expectKbatchError(gold, { code: 'EVAL_COLUMN_MISSING', record: 2, field: 'gold', message: 'row 2 has no column "gold" (--gold); its columns are: label, text' });
    const pred = await catchError(() => evaluate([{ gold: 'a', answer: 'a' }], { gold: 'gold' }));
    expectKbatchError(pred, { code: 'EVAL_COLUMN_MISSING', field: 'label', message: 'row 1 has no column "label" (--pred)' });
    // A row without the --by column is group "" (issue 15 review); a CSV header without it still fails (evaluateFile).
    expect(Object.keys((await evaluate([row('a', 'a')], { gold: 'gold', by: 'lang' })).by!.groups)).toEqual(['']);
  });

  it('rejects a confidence outside [0, 1] and a row that is not an object with RECORD_INVALID', async () => {
    const conf = await catchError(() => evaluate([row('a', 'a', { confidence: 'high' })], { gold: 'gold' }));
    expectKbatchError(conf, { code: 'RECORD_INVALID', field: 'confidence', message: 'row 1: column "confidence" must be a confidence between 0 and 1, got "high"' });
    const notObject = await catchError(() => evaluate([['a', 'a']], { gold: 'gold' }));
    expectKbatchError(notObject, { code: 'RECORD_INVALID', record: 1, message: 'row 1 must be an object of columns, got an array' });
  });

  it('refuses more than 1,000 distinct labels without a label list with EVAL_TOO_MANY_LABELS (a free-text column)', async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => row(`g${i}`, `g${i}`));
    const err = await catchError(() => evaluate(rows, { gold: 'gold' }));
    // Rows 1–1000 bring 1,000 labels and pass; row 1001 brings one more.
    expectKbatchError(err, { code: 'EVAL_TOO_MANY_LABELS', record: 1001, message: 'row 1001: more than 1000 distinct labels' });
  });

  it('rejects bad options with OPTION_INVALID naming the option', async () => {
    expectKbatchError(await catchError(() => evaluate([], {} as never)), { code: 'OPTION_INVALID', field: 'gold' });
    expectKbatchError(await catchError(() => evaluate([], { gold: 'g', targetAccuracy: 1.5 })), {
      code: 'OPTION_INVALID',
      message: 'Invalid option `targetAccuracy`: must be a number between 0 and 1, got 1.5',
    });
    expectKbatchError(await catchError(() => evaluate([], { gold: 'g', labels: ['a', 'A'] })), { code: 'OPTION_INVALID', field: 'labels' });
  });

  it('gives null accuracy, macro-F1 and kappa for no rows', async () => {
    const r = await evaluate([], { gold: 'gold' });
    expect([r.n, r.scored, r.accuracy, r.macro_f1, r.kappa, r.labels, r.confusion]).toEqual([0, 0, null, null, null, [], {}]);
  });
});
