import { describe, expect, it } from 'vitest';
import { matchLabel } from '../../src/answers/labels.js';
import { EvaluateOptionsSchema } from '../../src/eval/eval-options.js';
import { judgeRow, labelMatcher } from '../../src/eval/row-verdict.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

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

describe('judgeRow', () => {
  const opts = EvaluateOptionsSchema.parse({ gold: 'gold' });
  const judge = (row: Record<string, unknown>) => judgeRow({ label: 'a', confidence: null, error: null, ...row }, opts, labelMatcher(undefined), { record: 1 });

  it('counts a gold label that cleans to nothing ("**", "...") as no_gold, as a blank one', () => {
    for (const gold of ['', '  ', '**', '...', '""']) expect([gold, judge({ gold })]).toEqual([gold, { scored: false, reason: 'no_gold' }]);
  });

  it('takes only decimal confidences in [0, 1] and rejects "0x1", "0b1", "Infinity" with RECORD_INVALID', async () => {
    for (const [text, n] of [['0.97', 0.97], [' .5 ', 0.5], ['1e-3', 0.001], ['1', 1], ['0', 0], [0.25, 0.25]] as const) {
      expect(judge({ gold: 'a', confidence: text })).toMatchObject({ scored: true, confidence: n });
    }
    for (const text of ['0x1', '0b1', '0o1', 'Infinity', '1.5', '-0.1', '1,0', 'NaN']) {
      expectKbatchError(await catchError(() => judge({ gold: 'a', confidence: text })), { code: 'RECORD_INVALID', field: 'confidence' });
    }
  });
});
