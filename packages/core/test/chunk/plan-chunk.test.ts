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

describe('planChunk with a token budget', () => {
  const budget = { ...limits, maxBatchTokens: 50 };

  it('fills a chunk to exactly maxBatchTokens and rotates before a line that would pass it', () => {
    expect(planChunk({ requests: 1, bytes: 10, tokens: 30 }, 10, budget, 20)).toBe('append');
    expect(planChunk({ requests: 1, bytes: 10, tokens: 30 }, 10, budget, 21)).toBe('rotate');
  });

  it('says a line above maxBytes or maxBatchTokens on its own fits no chunk, even an empty one', () => {
    expect(planChunk({ requests: 0, bytes: 0, tokens: 0 }, 101, budget, 1)).toBe('line-too-large');
    expect(planChunk({ requests: 0, bytes: 0, tokens: 0 }, 10, budget, 51)).toBe('line-over-token-budget');
    expect(planChunk({ requests: 0, bytes: 0, tokens: 0 }, 10, budget, 50)).toBe('append');
  });

  it('ignores tokens without a budget', () => {
    expect(planChunk({ requests: 1, bytes: 10, tokens: 1e9 }, 10, limits, 1e9)).toBe('append');
  });
});
