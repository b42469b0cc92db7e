import { describe, expect, it } from 'vitest';
import { sourceRecord } from '../../src/records/source-record.js';

describe('sourceRecord', () => {
  it('makes a record that reads, spreads and stringifies as the object literal it stands for', () => {
    const data = { id: 'rec-1', stars: 4 };
    const record = sourceRecord(3, 5, data);
    expect(record).toEqual({ index: 3, line: 5, data });
    expect(record.data).toBe(data);
    expect(Object.keys(record)).toEqual(['index', 'line', 'data']);
    expect({ ...record }).toEqual({ index: 3, line: 5, data });
    expect(JSON.stringify(record)).toBe('{"index":3,"line":5,"data":{"id":"rec-1","stars":4}}');
    expect(structuredClone(record)).toEqual({ index: 3, line: 5, data });
  });
});
