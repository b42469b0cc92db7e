import { describe, expect, it } from 'vitest';
import { RepeatedEnd } from '../../src/cost/repeated-end.js';

describe('RepeatedEnd', () => {
  it('gives the whole tokens of a line whose end from a cut repeats the last line counted whole from a cut as far from its end', () => {
    const ends = new RepeatedEnd();
    const first = Buffer.from('aaa bbb ccc');
    ends.begin();
    expect(ends.cut(first, 3, 10)).toBe(-1);
    expect(ends.cut(first, 7, 20)).toBe(-1);
    ends.end(first, 30);
    // " ccc" is 4 bytes from both ends, and 10 tokens were counted from there: 5 before it here, so 15 in all
    const second = Buffer.from('zz yy ccc');
    ends.begin();
    expect(ends.cut(second, 2, 1)).toBe(-1);
    expect(ends.cut(second, 5, 5)).toBe(15);
  });

  it('finds nothing when the bytes differ, the distance is not a cut of the last line, or nothing was counted whole', () => {
    const ends = new RepeatedEnd();
    ends.begin();
    expect(ends.cut(Buffer.from('a b'), 1, 0)).toBe(-1);
    const line = Buffer.from('aaa bbb ccc');
    ends.begin();
    ends.cut(line, 3, 10);
    ends.end(line, 30);
    ends.begin();
    expect(ends.cut(Buffer.from('xxx bbb ccd'), 3, 10)).toBe(-1);
    ends.begin();
    expect(ends.cut(Buffer.from('xxx  bbb ccc'), 5, 10)).toBe(-1);
    ends.begin();
    expect(ends.cut(Buffer.from('xxxx bbb ccc'), 4, 2)).toBe(22);
  });
});
