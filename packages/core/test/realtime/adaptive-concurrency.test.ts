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

  it('keeps the limit through isolated 429s at a low rate (one outcome in 20)', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 16, cooldownMs: 2000, minSamples: 16, now: () => t });
    const changes: boolean[] = [];
    for (let i = 1; i <= 2000; i++, t += 2) changes.push(i % 20 === 0 ? c.onRateLimited() : c.onSuccess());
    expect(changes.some(Boolean)).toBe(false);
    expect(c.limit).toBe(16);
  });

  it('halves the limit once 429s reach the threshold fraction of the recent outcomes', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 16, cooldownMs: 2000, sample: 64, now: () => t });
    for (let i = 0; i < 60; i++, t += 10) c.onSuccess();
    const changes: boolean[] = [];
    for (let i = 0; i < 15; i++, t += 10) changes.push(c.onRateLimited());
    // At the 13th 429, 13 of the last 64 outcomes are 429s: 20.3% ≥ 20% (the default threshold); 12 of 64 is 18.8%.
    expect(changes.indexOf(true)).toBe(12);
    expect(c.limit).toBe(8);
  });

  it('judges the first outcomes over minSamples: a lone early 429 lowers nothing, a high early rate does', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 16, minSamples: 16, now: () => t });
    expect([c.onRateLimited(), c.onRateLimited(), c.onRateLimited()]).toEqual([false, false, false]); // 3 of 16: 19%
    expect(c.onRateLimited()).toBe(true); // 4 of 16: 25%
    expect(c.limit).toBe(8);
  });

  it('starts the count afresh after a decrease: once calm, a lone 429 among successes lowers nothing', () => {
    let t = 0;
    const c = createAdaptiveConcurrency({ max: 16, cooldownMs: 1000, threshold: 0.5, sample: 10, now: () => t });
    expect(c.onRateLimited()).toBe(true);
    expect(c.limit).toBe(8);
    t = 2000;
    for (let i = 0; i < 5; i++) c.onSuccess();
    expect(c.onRateLimited()).toBe(false); // 1 of 6
    for (let i = 0; i < 3; i++) c.onRateLimited();
    expect(c.onRateLimited()).toBe(true); // 5 of 10
    expect(c.limit).toBe(4);
  });
});
