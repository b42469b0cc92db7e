import { describe, expect, it } from 'vitest';
import { createAdaptiveConcurrency } from '../../src/realtime/adaptive-concurrency.js';

describe('createAdaptiveConcurrency', () => {
  it('halves the limit on a 429 and treats a burst within the cooldown as one signal', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 64, cooldownMs: 1000, now: () => t });
    expect(c.onRateLimited()).toBe(true);
    expect(c.limit).toBe(32);
    t = 500;
    expect(c.onRateLimited()).toBe(false);
    expect(c.limit).toBe(32);
    t = 1500;
    c.onRateLimited();
    expect(c.limit).toBe(16);
  });

  it('never goes below min', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 4, min: 2, cooldownMs: 10, now: () => t });
    for (let i = 0; i < 5; i++, t += 100) c.onRateLimited();
    expect(c.limit).toBe(2);
  });

  it('recovers additively (one per round of `limit` successes) after the calm period, up to max', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 8, cooldownMs: 1000, now: () => t });
    c.onRateLimited();
    expect(c.limit).toBe(4);
    t = 999;
    for (let i = 0; i < 10; i++) c.onSuccess();
    expect(c.limit).toBe(4); // still cooling down
    t = 1000;
    for (let i = 0; i < 4; i++) c.onSuccess();
    expect(c.limit).toBe(5);
    for (let i = 0; i < 1000; i++) c.onSuccess();
    expect(c.limit).toBe(8);
  });
});
