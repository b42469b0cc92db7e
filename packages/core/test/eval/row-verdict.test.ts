import { describe, expect, it } from 'vitest';
import { matchLabel } from '../../src/answers/labels.js';
import { labelMatcher } from '../../src/eval/row-verdict.js';

const LABELS = ['positive', 'negative', 'neutral', 'n/a'];
const ODD = ['"Positive."', ' positive', 'POSITIVE!', '**negative**', '`neutral`', 'N/A', 'n/a.', 'positive negative', 'sarcastic', 'posítive', '\u00a0neutral\u00a0', '«negative»', ''];

describe('labelMatcher', () => {
  it('agrees with matchLabel on odd spellings, the first time and when remembered', () => {
    const match = labelMatcher(LABELS);
    const slow = (text: string): string | null => {
      try {
        return matchLabel(text, LABELS);
      } catch {
        return null;
      }
    };
    for (const round of [1, 2]) {
      for (const text of ODD) expect([round, text, match(text, { record: 1 })]).toEqual([round, text, slow(text)]);
    }
  });

  it('without labels, spells a label as first seen and folds case, quotes and punctuation, the first time and when remembered', () => {
    const match = labelMatcher(undefined);
    const seen = ['"Positive."', 'positive', 'POSITIVE!', 'Negative', '**negative**'].map((text) => match(text, { record: 1 }));
    expect(seen).toEqual(['Positive', 'Positive', 'Positive', 'Negative', 'Negative']);
    expect(['positive', '"Positive."', '**negative**'].map((text) => match(text, { record: 2 }))).toEqual(['Positive', 'Positive', 'Negative']);
  });
});
