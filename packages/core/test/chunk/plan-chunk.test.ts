import { describe, expect, it } from 'vitest';
import { planChunk } from '../../src/internal.js';

const limits = { maxRequests: 3, maxBytes: 100 };

describe('planChunk', () => {
  it('always appends to an empty chunk', () => {
    expect(planChunk({ requests: 0, bytes: 0 }, 100, limits)).toBe('append');
  });

  it('appends a line that makes the chunk exactly maxBytes and rotates one byte over', () => {
    expect(planChunk({ requests: 1, bytes: 60 }, 40, limits)).toBe('append');
    expect(planChunk({ requests: 1, bytes: 60 }, 41, limits)).toBe('rotate');
  });

  it('rotates after maxRequests lines', () => {
    expect(planChunk({ requests: 2, bytes: 2 }, 1, limits)).toBe('append');
    expect(planChunk({ requests: 3, bytes: 3 }, 1, limits)).toBe('rotate');
  });
});
