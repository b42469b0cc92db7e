import { describe, expect, it } from 'vitest';
import { MAX_GROUPS, evalAccumulator } from '../../src/eval/eval-accumulator.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const row = (gold: unknown, label: unknown, extra: Record<string, unknown> = {}) => ({ gold, label, confidence: null, error: null, ...extra });

describe('evalAccumulator', () => {
  it('counts a row without the --by column in group "" (as a null value), as the result documents', () => {
    const acc = evalAccumulator({ gold: 'gold', by: 'lang' });
    acc.add(row('a', 'a', { lang: 'en' }));
    acc.add(row('a', 'b'));
    acc.add(row('a', 'a', { lang: null }));
    const r = acc.result();
    expect(Object.keys(r.by!.groups)).toEqual(['', 'en']);
    expect([r.by!.groups['']!.n, r.by!.groups['']!.correct, r.n]).toEqual([2, 1, 3]);
  });

  it('leaves every count as it was when a row is rejected (a bad confidence, a missing column, one group too many)', async () => {
    const acc = evalAccumulator({ gold: 'gold', by: 'lang' });
    acc.add(row('a', 'a', { lang: 'en', confidence: 0.9 }));
    const before = JSON.stringify(acc.result());
    expectKbatchError(await catchError(() => acc.add(row('a', 'b', { lang: 'fr', confidence: 'high' }))), { code: 'RECORD_INVALID' });
    expectKbatchError(await catchError(() => acc.add({ gold: 'a', lang: 'de' })), { code: 'EVAL_COLUMN_MISSING' });
    expect(JSON.stringify(acc.result())).toBe(before);
    const many = evalAccumulator({ gold: 'gold', by: 'id' });
    for (let i = 0; i < MAX_GROUPS; i++) many.add(row('a', 'a', { id: i }));
    const full = JSON.stringify([many.result().n, many.result().scored]);
    expectKbatchError(await catchError(() => many.add(row('a', 'a', { id: 'one more' }))), { code: 'EVAL_TOO_MANY_GROUPS' });
    expect(JSON.stringify([many.result().n, many.result().scored])).toBe(full);
  });

  it('refuses more than 1,000 distinct --by values with EVAL_TOO_MANY_GROUPS (an id column), naming the row and column', async () => {
    const acc = evalAccumulator({ gold: 'gold', by: 'id' });
    for (let i = 1; i <= MAX_GROUPS; i++) acc.add(row('a', 'a', { id: `r${i}`, confidence: i / MAX_GROUPS }));
    // An existing group still counts; a new one is refused.
    acc.add(row('a', 'b', { id: 'r1' }));
    const err = await catchError(() => acc.add(row('a', 'a', { id: 'r1001' })));
    expectKbatchError(err, { code: 'EVAL_TOO_MANY_GROUPS', record: 1002, field: 'id', message: 'row 1002: more than 1000 distinct values in the --by column "id"' });
    expect(MAX_GROUPS).toBe(1000);
  });

  it('keeps a label or group named "__proto__" in per_label, confusion and groups, and in the JSON', () => {
    const acc = evalAccumulator({ gold: 'gold', by: 'g', labels: ['__proto__', 'a'] });
    acc.add(row('__proto__', '__proto__', { g: '__proto__' }));
    acc.add(row('a', '__proto__', { g: 'x' }));
    const r = acc.result();
    expect(Object.keys(r.per_label)).toEqual(['__proto__', 'a']);
    expect(r.per_label['__proto__']).toEqual({ precision: 0.5, recall: 1, f1: 2 / 3, support: 1 });
    expect(JSON.parse(JSON.stringify(r.confusion))).toEqual(JSON.parse('{"__proto__":{"__proto__":1,"a":0},"a":{"__proto__":1,"a":0}}'));
    expect(Object.keys(r.by!.groups)).toEqual(['__proto__', 'x']);
    expect(Object.keys(JSON.parse(JSON.stringify(r)).by.groups)).toEqual(['__proto__', 'x']);
  });

  it('says the target threshold was not computed when no scored row has a confidence', () => {
    const acc = evalAccumulator({ gold: 'gold', targetAccuracy: 0.9 });
    acc.add(row('a', 'a'));
    expect(acc.result().target).toEqual({ target_accuracy: 0.9, threshold: null, answered: 0, coverage: 0, accuracy: null, not_computed: 'no scored row has a confidence' });
  });
});
