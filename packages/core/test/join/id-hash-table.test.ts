import { describe, expect, it } from 'vitest';
import { hash64, hashAsciiBytes, hashString, IdHashTable } from '../../src/join/id-hash-table.js';

describe('IdHashTable', () => {
  it('finds entries by key after growing past its initial capacity', () => {
    const table = new IdHashTable();
    for (let i = 0; i < 5000; i++) table.add(`row-${i}`, i);
    expect(table.find('row-4321', () => true)).toBe(4321);
    expect(table.find('row-0', () => true)).toBe(0);
    expect(table.find('row-5000', () => true)).toBe(-1);
  });

  it('keeps entries with equal hashes side by side and lets the caller tell them apart', () => {
    const table = new IdHashTable();
    table.add('same', 1);
    table.add('same', 2); // stands in for two different keys whose 64-bit hashes collide
    expect(table.find('same', (e) => e === 2)).toBe(2);
    expect(table.find('same', () => false)).toBe(-1);
  });

  it('hashes to two unsigned 32-bit halves', () => {
    const [a, b] = hash64('row-1');
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(2 ** 32);
    expect(hash64('row-1')).toEqual([a, b]);
    expect(hash64('row-2')).not.toEqual([a, b]);
  });

  it('hashes ASCII bytes as it hashes their string, finds them either way, and leaves any other byte to the string', () => {
    const table = new IdHashTable();
    const fromBytes = new Int32Array(2);
    const fromText = new Int32Array(2);
    for (const id of ['row-1', '', 'a"b\\c', 'x'.repeat(300)]) {
      const buf = Buffer.from(`[${id}]`, 'latin1');
      expect(hashAsciiBytes(buf, 1, buf.length - 1, fromBytes)).toBe(true);
      hashString(id, fromText);
      expect([...fromBytes]).toEqual([...fromText]);
      table.addHashed(fromBytes[0]!, fromBytes[1]!, id.length);
      expect(table.find(id, () => true)).toBe(id.length);
    }
    expect(hashAsciiBytes(Buffer.from('é-1'), 0, 4, fromBytes)).toBe(false);
  });
});
