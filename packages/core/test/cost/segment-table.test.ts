import { describe, expect, it } from 'vitest';
import { SegmentTable } from '../../src/cost/segment-table.js';

const span = (start: number, end: number, hash: number) => ({ start, end, hash });

describe('SegmentTable', () => {
  it('finds a segment by its bytes and prefix id, never by its hash alone', () => {
    const table = new SegmentTable();
    const line = Buffer.from('abc abd abc');
    table.add(line, span(0, 3, 7), 0, 5);
    expect(table.find(line, span(8, 11, 7), 0)).toBe(5);
    // the same hash over other bytes (a collision), or another prefix id: not found
    expect(table.find(line, span(4, 7, 7), 0)).toBe(-1);
    expect(table.find(line, span(0, 3, 7), 1)).toBe(-1);
    table.add(line, span(4, 7, 7), 0, 9);
    table.add(line, span(0, 3, 7), 1, 2);
    expect([table.find(line, span(4, 7, 7), 0), table.find(line, span(0, 3, 7), 1), table.find(line, span(0, 3, 7), 0)]).toEqual([9, 2, 5]);
  });

  it('holds an empty segment and a count of 0', () => {
    const table = new SegmentTable();
    const line = Buffer.from('x');
    table.add(line, span(0, 0, 0), 1, 0);
    expect(table.find(line, span(1, 1, 0), 1)).toBe(0);
    expect(table.find(line, span(0, 0, 0), 0)).toBe(-1);
  });

  it('keeps every segment as it grows, and starts over when full (bounded memory)', () => {
    const table = new SegmentTable();
    const words = Array.from({ length: 600_000 }, (_, k) => Buffer.from(`w${k}`));
    // hash: the number itself, so many segments share low bits
    for (let k = 0; k < 100_000; k++) table.add(words[k]!, span(0, words[k]!.length, k), 0, k % 1000);
    for (let k = 0; k < 100_000; k += 997) expect(table.find(words[k]!, span(0, words[k]!.length, k), 0)).toBe(k % 1000);
    for (let k = 100_000; k < 600_000; k++) table.add(words[k]!, span(0, words[k]!.length, k), 0, 1);
    // more than it holds: the first ones are gone, the last ones still there
    expect(table.find(words[0]!, span(0, 2, 0), 0)).toBe(-1);
    expect(table.find(words[599_999]!, span(0, words[599_999]!.length, 599_999), 0)).toBe(1);
  });
});
