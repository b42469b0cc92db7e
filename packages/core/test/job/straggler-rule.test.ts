import { describe, expect, it } from 'vitest';
import { observeProgress, stragglerLimit, stragglingFor, StragglerRuleSchema } from '../../src/job/straggler-rule.js';

const rule = (given: Parameters<typeof StragglerRuleSchema.parse>[0] = {}) => StragglerRuleSchema.parse(given);

describe('stragglerLimit', () => {
  it('defaults to 1% of the batch, at least 1, capped by maxThreshold', () => {
    expect(stragglerLimit(20, rule())).toBe(1);
    expect(stragglerLimit(200, rule())).toBe(2);
    expect(stragglerLimit(250, rule())).toBe(3);
    expect(stragglerLimit(50_000, rule())).toBe(500);
    expect(stragglerLimit(50_000, rule({ maxThreshold: 100 }))).toBe(100);
  });

  it('takes an explicit threshold as is', () => {
    expect(stragglerLimit(20, rule({ threshold: 5 }))).toBe(5);
    expect(stragglerLimit(50_000, rule({ threshold: 2_000, maxThreshold: 100 }))).toBe(2_000);
  });

  it('defaults the wait to 60 s', () => {
    expect(rule().waitMs).toBe(60_000);
  });
});

describe('stragglingFor', () => {
  const r = rule({ threshold: 3, waitMs: 1_000 });
  const counts = { total: 100, completed: 96, failed: 1 };

  it('holds for an in_progress batch with 1…threshold left and no progress for the wait', () => {
    const watch = observeProgress(undefined, counts, 0);
    expect(stragglingFor({ status: 'in_progress', request_counts: counts }, watch, 999, r)).toBeUndefined();
    expect(stragglingFor({ status: 'in_progress', request_counts: counts }, watch, 1_500, r)).toBe(1_500);
  });

  it('restarts the clock whenever the batch makes progress', () => {
    let watch = observeProgress(undefined, { total: 100, completed: 95, failed: 1 }, 0);
    watch = observeProgress(watch, counts, 900);
    expect(watch).toEqual({ done: 97, since: 900 });
    expect(stragglingFor({ status: 'in_progress', request_counts: counts }, watch, 1_500, r)).toBeUndefined();
    expect(observeProgress(watch, counts, 1_800)).toBe(watch);
  });

  it('does not hold with too many left, nothing left, nothing done yet, or another status', () => {
    const at = (c: typeof counts, status = 'in_progress') => stragglingFor({ status, request_counts: c }, observeProgress(undefined, c, 0), 5_000, r);
    expect(at({ total: 100, completed: 96, failed: 0 })).toBeUndefined();
    expect(at({ total: 100, completed: 99, failed: 1 })).toBeUndefined();
    expect(at({ total: 2, completed: 0, failed: 0 })).toBeUndefined();
    expect(at(counts, 'finalizing')).toBeUndefined();
    expect(at(counts, 'cancelling')).toBeUndefined();
    expect(at(counts)).toBe(5_000);
  });
});
