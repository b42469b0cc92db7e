import { describe, expect, it } from 'vitest';
import { holdLease, leaseCapMs, renewalIntervalMs } from '../../src/worker/step-lease.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('holdLease', () => {
  it('renews the lease every interval while it is held, and not after release', async () => {
    let renewals = 0;
    const lease = holdLease({ everyMs: 20, renew: async () => (renewals++, true) });
    await tick(110);
    await lease.release();
    const held = renewals;
    expect(held).toBeGreaterThanOrEqual(3);
    await tick(60);
    expect(renewals).toBe(held);
    expect(lease.lost.aborted).toBe(false);
  });

  it('aborts `lost` and stops renewing when a renewal finds the step no longer the worker\'s', async () => {
    let renewals = 0;
    const lease = holdLease({ everyMs: 20, renew: async () => ++renewals < 2 });
    await new Promise((r) => lease.lost.addEventListener('abort', r, { once: true }));
    await tick(60);
    expect(renewals).toBe(2);
    expect(lease.capped).toBe(false);
    await lease.release();
  });

  it('keeps the lease through a renewal that fails (the database away for a moment), reporting the error', async () => {
    const errors: string[] = [];
    let renewals = 0;
    const lease = holdLease({ everyMs: 20, renew: async () => { if (++renewals === 1) throw new Error('connection reset'); return true; }, onError: (e) => errors.push(e.message) });
    await tick(90);
    await lease.release();
    expect(errors).toEqual(['connection reset']);
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(lease.lost.aborted).toBe(false);
  });

  it('stops renewing and stops the step, and says so once, after `maxMs` (a hung step is handed on)', async () => {
    let renewals = 0;
    let capped = 0;
    const lease = holdLease({ everyMs: 20, renew: async () => (renewals++, true), maxMs: 70, onCapped: () => capped++ });
    await tick(200);
    expect(capped).toBe(1);
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(renewals).toBeLessThanOrEqual(4);
    expect(lease.lost.aborted).toBe(true);
    expect(lease.capped).toBe(true);
    await lease.release();
  });

  it('caps a lease at the slice plus 10 leases', () => {
    expect(leaseCapMs(60_000, 300)).toBe(3_060_000);
  });

  it('renews every third of the lease', () => {
    expect(renewalIntervalMs(300)).toBe(100_000);
    expect(renewalIntervalMs(3)).toBe(1_000);
  });
});
