import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appendInstruction, createAnswerParser } from '../../src/answers/answer-parser.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('createAnswerParser', () => {
  it('interprets free text as is', () => {
    const p = createAnswerParser();
    expect(p).toMatchObject({ kind: 'text', instruction: null, fields: [] });
    expect(p.parse('anything')).toEqual({ values: {}, error: null });
  });

  it('parses labels, returning the error instead of throwing', () => {
    const p = createAnswerParser({ labels: ['yes', 'no'], confidence: true });
    expect(p.instruction).toBe('Answer with exactly one of these labels: yes, no');
    expect(p.fields).toEqual(['label', 'confidence']);
    expect(p.parse('No.', [{ token: 'No', logprob: 0 }])).toEqual({ values: { label: 'no', confidence: 1 }, error: null });
    const bad = p.parse('perhaps');
    expect(bad.values).toEqual({ label: null, confidence: null });
    expectKbatchError(bad.error, { code: 'ANSWER_INVALID' });
  });

  it('puts a non-object schema answer in `answer`', () => {
    const p = createAnswerParser({ schema: z.array(z.string()) });
    expect(p.fields).toEqual(['answer']);
    expect(p.parse('["a","b"]').values).toEqual({ answer: ['a', 'b'] });
  });

  it('rejects labels together with a schema with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => createAnswerParser({ labels: ['a'], schema: { type: 'object' } })), { code: 'OPTION_INVALID' });
  });
});

describe('appendInstruction', () => {
  it('adds the instruction after a blank line', () => {
    expect(appendInstruction('Review: great\n', 'Answer with exactly one of these labels: a, b')).toBe(
      'Review: great\n\nAnswer with exactly one of these labels: a, b',
    );
    expect(appendInstruction('Review', null)).toBe('Review');
  });
});
