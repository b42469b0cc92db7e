import { describe, expect, it } from 'vitest';
import { labelConfidence } from '../../src/answers/confidence.js';

describe('labelConfidence', () => {
  it('is exp(logprob) of the first answer token when there are no alternatives', () => {
    expect(labelConfidence([{ token: 'positive', logprob: Math.log(0.8) }], 'positive')).toBeCloseTo(0.8);
  });

  it('sums top_logprobs entries that are a prefix of the label (case and leading space ignored)', () => {
    const logprobs = [
      {
        token: 'pos',
        logprob: Math.log(0.5),
        top_logprobs: [
          { token: 'pos', logprob: Math.log(0.5) },
          { token: ' Pos', logprob: Math.log(0.2) },
          { token: 'neg', logprob: Math.log(0.25) },
          { token: 'positive', logprob: Math.log(0.05) },
        ],
      },
      { token: 'itive', logprob: -0.01 },
    ];
    expect(labelConfidence(logprobs, 'positive')).toBeCloseTo(0.75);
  });

  it('skips leading whitespace and quote tokens', () => {
    const logprobs = [
      { token: ' "', logprob: -0.1 },
      { token: 'neg', logprob: Math.log(0.9), top_logprobs: [{ token: 'pos', logprob: Math.log(0.1) }] },
    ];
    expect(labelConfidence(logprobs, 'negative')).toBeCloseTo(0.9);
  });

  it('is null without logprobs or when the first token does not start the label', () => {
    expect(labelConfidence(null, 'positive')).toBeNull();
    expect(labelConfidence([], 'positive')).toBeNull();
    expect(labelConfidence([{ token: 'The', logprob: -0.1 }], 'positive')).toBeNull();
  });

  it('never exceeds 1', () => {
    const logprobs = [{ token: 'p', logprob: 0, top_logprobs: [{ token: 'po', logprob: 0 }] }];
    expect(labelConfidence(logprobs, 'positive')).toBe(1);
  });
});
