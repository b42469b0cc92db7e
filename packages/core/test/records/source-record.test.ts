import { deepStrictEqual } from 'node:assert';
import { describe, expect, it } from 'vitest';
import { recordStream } from '../../src/index.js';
import { sourceRecord } from '../../src/records/source-record.js';
import { byteStream } from '../helpers/inputs.js';
import { collect } from '../helpers/streams.js';

describe('sourceRecord', () => {
  it('makes a record that is strictly equal to the object literal it stands for (keys, order, prototype)', () => {
    const data = { id: 'rec-1', stars: 4 };
    const record = sourceRecord(3, 5, data);
    const literal = { index: 3, line: 5, data };
    expect(record).toStrictEqual(literal);
    deepStrictEqual(record, literal);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(record.data).toBe(data);
    expect(Object.keys(record)).toEqual(['index', 'line', 'data']);
  });

  it('spreads, stringifies and clones as the object literal', () => {
    const data = { id: 'rec-1', stars: 4 };
    const record = sourceRecord(3, 5, data);
    expect({ ...record }).toStrictEqual({ index: 3, line: 5, data });
    expect(JSON.stringify(record)).toBe('{"index":3,"line":5,"data":{"id":"rec-1","stars":4}}');
    expect(structuredClone(record)).toStrictEqual({ index: 3, line: 5, data });
  });

  it('is what recordStream yields: records strictly equal to plain literals, from CSV and JSONL', async () => {
    const csv = await collect(recordStream({ input: byteStream('id,text\n1,a\n'), format: 'csv' }));
    expect(csv).toStrictEqual([{ index: 1, line: 2, data: { id: '1', text: 'a' } }]);
    const jsonl = await collect(recordStream({ input: byteStream('{"id":1}\n{"id":2}\n'), format: 'jsonl' }));
    deepStrictEqual(jsonl, [{ index: 1, line: 1, data: { id: 1 } }, { index: 2, line: 2, data: { id: 2 } }]);
  });
});
