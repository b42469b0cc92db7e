import { describe, expect, it } from 'vitest';
import { createIdRegistry, customIdFor } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('customIdFor', () => {
  it('generates row-<record number> without an id column, stable across calls', () => {
    expect(customIdFor({ index: 12, line: 30, data: {} })).toBe('row-12');
    expect(customIdFor({ index: 12, line: 30, data: { x: 'y' } })).toBe('row-12');
  });

  it('takes the id column as written (007 stays 007) and JSON numbers as text', () => {
    expect(customIdFor({ index: 1, line: 2, data: { id: '007' } }, 'id')).toBe('007');
    expect(customIdFor({ index: 1, line: 2, data: { id: 42 } }, 'id')).toBe('42');
  });

  it('fails with CUSTOM_ID_MISSING for an absent, empty or non-text id', async () => {
    for (const data of [{}, { id: '' }, { id: '  ' }, { id: null }, { id: { a: 1 } }]) {
      const err = await catchError(() => customIdFor({ index: 3, line: 4, data }, 'id'));
      expectKbatchError(err, { code: 'CUSTOM_ID_MISSING', record: 3, line: 4, field: 'id' });
    }
  });
});

describe('createIdRegistry', () => {
  it('rejects duplicate custom_id with CUSTOM_ID_DUPLICATE naming both rows', async () => {
    const registry = createIdRegistry();
    registry.add('a', 1);
    registry.add('b', 2);
    const err = await catchError(() => registry.add('a', 7));
    expectKbatchError(err, { code: 'CUSTOM_ID_DUPLICATE', customId: 'a', message: 'rows 1 and 7' });
  });

  it('remembers many ids in compact memory and still finds a late duplicate', async () => {
    const registry = createIdRegistry();
    for (let i = 1; i <= 200_000; i++) registry.add(`id-${i}`, i);
    expect(registry.size).toBe(200_000);
    const err = await catchError(() => registry.add('id-123', 200_001));
    expectKbatchError(err, { code: 'CUSTOM_ID_DUPLICATE', message: 'rows 123 and 200001' });
    // Ids differing only slightly are not confused.
    registry.add('id-123 ', 200_002);
    registry.add('ID-123', 200_003);
  });
});

