import { describe, expect, it } from 'vitest';
import { parseLabels } from '../../src/flags/labels.js';

describe('parseLabels', () => {
  it('trims each label and drops empty ones, so `a,,b,` is `a,b`', () => {
    expect(parseLabels(' positive, negative,,neutral ,')).toEqual(['positive', 'negative', 'neutral']);
    expect(parseLabels('yes,no')).toEqual(['yes', 'no']);
    expect(parseLabels(' , ')).toEqual([]);
  });
});
