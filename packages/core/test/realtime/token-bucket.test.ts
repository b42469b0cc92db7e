import { describe, expect, it } from 'vitest';
import { createTokenBucket } from '../../src/realtime/token-bucket.js';

describe('createTokenBucket', () => {
  it('spaces single-token reservations 60000/rate ms apart after the initial capacity', () => {
    let t = 0;
    const bucket = createTokenBucket({ ratePerMinute: 600, capacity: 1, now: () => t });
    expect([bucket.reserve(1), bucket.reserve(1), bucket.reserve(1)]).toEqual([0, 100, 200]);
    t = 250; // refilled 2.5 tokens against a debt of 2
    expect(bucket.reserve(1)).toBe(50);
  });

  it('never holds more than its capacity', () => {
    let t = 0;
    const bucket = createTokenBucket({ ratePerMinute: 60, capacity: 2, now: () => t });
    t = 1_000_000;
    expect([bucket.reserve(1), bucket.reserve(1), bucket.reserve(1)]).toEqual([0, 0, 1000]);
  });

  it('lets a request larger than the capacity through by going into debt', () => {
    const t = 0;
    const bucket = createTokenBucket({ ratePerMinute: 6000, capacity: 100, now: () => t });
    expect(bucket.reserve(250)).toBe(1500);
  });

  it('adjust gives back or charges tokens', () => {
    const t = 0;
    const bucket = createTokenBucket({ ratePerMinute: 60_000, capacity: 10, now: () => t });
    expect(bucket.reserve(10)).toBe(0);
    bucket.adjust(-5);
    expect(bucket.reserve(1)).toBe(6);
  });
});
