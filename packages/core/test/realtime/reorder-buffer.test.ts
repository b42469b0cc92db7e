import { describe, expect, it } from 'vitest';
import { createReorderBuffer } from '../../src/realtime/reorder-buffer.js';

describe('createReorderBuffer', () => {
  it('releases results only once every earlier one has arrived', () => {
    const buffer = createReorderBuffer<string>();
    buffer.put(2, 'c');
    buffer.put(1, 'b');
    expect(buffer.drain()).toEqual([]);
    expect(buffer.size).toBe(2);
    buffer.put(0, 'a');
    expect(buffer.drain()).toEqual(['a', 'b', 'c']);
    buffer.put(3, 'd');
    expect(buffer.drain()).toEqual(['d']);
    expect(buffer.size).toBe(0);
  });
});
