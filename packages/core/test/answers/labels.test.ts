import { describe, expect, it } from 'vitest';
import { buildLabelInstruction, normalizeLabels, parseLabel } from '../../src/answers/labels.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const LABELS = ['positive', 'negative', 'neutral'];

describe('buildLabelInstruction', () => {
  it('lists the labels in the exact phrase the responder detects', () => {
    expect(buildLabelInstruction(['a', 'b', 'c'])).toBe('Answer with exactly one of these labels: a, b, c');
  });

  it('rejects empty, blank and case-duplicate labels with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => buildLabelInstruction([])), { code: 'OPTION_INVALID', field: 'labels' });
    expectKbatchError(await catchError(() => normalizeLabels(['a', ' '])), { code: 'OPTION_INVALID', message: 'empty' });
    expectKbatchError(await catchError(() => normalizeLabels(['Yes', 'yes'])), { code: 'OPTION_INVALID', message: 'unique ignoring case' });
  });
});

describe('parseLabel', () => {
  const accepted: Array<[string, string]> = [
    ['positive', 'positive'],
    ['Positive', 'positive'],
    ['NEGATIVE', 'negative'],
    ['  neutral  ', 'neutral'],
    ['\nneutral\n', 'neutral'],
    ['positive.', 'positive'],
    ['Positive!', 'positive'],
    ['negative?!', 'negative'],
    ['neutral;', 'neutral'],
    ['"positive"', 'positive'],
    ["'negative'", 'negative'],
    ['`neutral`', 'neutral'],
    ['“Positive”', 'positive'],
    ['"Positive."', 'positive'],
    ['"positive".', 'positive'],
    ['**negative**', 'negative'],
    ['**Negative**.', 'negative'],
  ];
  it.each(accepted)('accepts %j as %s', (answer, label) => {
    expect(parseLabel(answer, LABELS)).toBe(label);
  });

  it('returns the label as spelled in the list', () => {
    expect(parseLabel('yes', ['Yes', 'No'])).toBe('Yes');
  });

  it('matches labels that themselves contain punctuation', () => {
    expect(parseLabel('N/A', ['ok', 'N/A'])).toBe('N/A');
    expect(parseLabel('(b)', ['(a)', '(b)'])).toBe('(b)');
    expect(parseLabel('b', ['(a)', '(b)'])).toBe('(b)');
  });

  const rejected = [
    'maybe',
    'positive or negative',
    'The sentiment is positive.',
    'pos',
    'positively',
    '',
    '   ',
    '"".',
    'positive, negative',
  ];
  it.each(rejected)('rejects %j with ANSWER_INVALID', async (answer) => {
    expectKbatchError(await catchError(() => parseLabel(answer, LABELS)), { code: 'ANSWER_INVALID', message: 'is not one of the labels' });
  });

  it('rejects a missing answer with ANSWER_INVALID', async () => {
    expectKbatchError(await catchError(() => parseLabel(null, LABELS)), { code: 'ANSWER_INVALID', message: 'no answer' });
  });
});
