import { describe, expect, it } from 'vitest';
import { ENQUEUED_GRACE_MS, mayBeEnqueued, quotaVerdict, type QuotaSlot } from '../../src/quota/quota-verdict.js';

const slot = (part: string, ticket: number, over: Partial<QuotaSlot> = {}): QuotaSlot => ({ job: 'a', part, ticket, held: false, tokens: 10, requests: 1, live: true, ...over });
const me = (part: string, job = 'a') => ({ job, part });

describe('quotaVerdict', () => {
  it('grants a waiting part whose tokens fit beside what is enqueued, and refuses one that does not', () => {
    const held = slot('1', 1, { held: true, tokens: 60 });
    expect(quotaVerdict([held, slot('2', 2, { tokens: 40 })], me('2'), { tokens: 100 })).toMatchObject({ grant: true, ahead: 0, enqueued: { tokens: 60, requests: 1, batches: 1 } });
    expect(quotaVerdict([held, slot('2', 2, { tokens: 41 })], me('2'), { tokens: 100 })).toMatchObject({ grant: false, ahead: 0 });
  });

  it('serves waiters strictly in ticket order: a small later part does not pass a large earlier one', () => {
    const slots = [slot('1', 1, { held: true, tokens: 50 }), slot('big', 2, { tokens: 90 }), slot('small', 3, { tokens: 5 })];
    expect(quotaVerdict(slots, me('small'), { tokens: 100 })).toMatchObject({ grant: false, ahead: 1 });
    expect(quotaVerdict(slots, me('big'), { tokens: 100 })).toMatchObject({ grant: false, ahead: 0 });
    // Tickets decide, not the order rows come in.
    expect(quotaVerdict([slots[2]!, slots[1]!], me('big'), { tokens: 100 })).toMatchObject({ grant: true, ahead: 0 });
  });

  it('lets a part larger than the whole limit go alone once nothing is enqueued, never beside another batch', () => {
    expect(quotaVerdict([slot('huge', 1, { tokens: 500 })], me('huge'), { tokens: 100 }).grant).toBe(true);
    expect(quotaVerdict([slot('1', 1, { held: true, tokens: 1 }), slot('huge', 2, { tokens: 500 })], me('huge'), { tokens: 100 }).grant).toBe(false);
  });

  it('grants at once without a limit, and counts requests and batches of every held slot', () => {
    const slots = [slot('1', 1, { held: true, tokens: 1e9, requests: 7 }), slot('2', 2, { held: true, requests: 3, job: 'b' }), slot('3', 3)];
    expect(quotaVerdict(slots, me('3'), {})).toMatchObject({ grant: true, enqueued: { tokens: 1e9 + 10, requests: 10, batches: 2 } });
  });

  it('drops waiters of gone processes and gone holders whose batch cannot be enqueued, and counts gone holders whose batch may be', () => {
    const goneWaiter = slot('w', 1, { live: false, job: 'b' });
    const goneDone = slot('d', 2, { held: true, live: false, enqueued: false, tokens: 90, job: 'c' });
    const goneEnqueued = slot('e', 3, { held: true, live: false, enqueued: true, tokens: 30, job: 'd' });
    const verdict = quotaVerdict([goneWaiter, goneDone, goneEnqueued, slot('x', 4, { tokens: 70 })], me('x'), { tokens: 100 });
    expect(verdict).toMatchObject({ grant: true, ahead: 0, enqueued: { tokens: 30, batches: 1 } });
    expect(verdict.stale.map((s) => s.part)).toEqual(['w', 'd']);
    expect(quotaVerdict([goneEnqueued, slot('y', 5, { tokens: 71 })], me('y'), { tokens: 100 }).grant).toBe(false);
  });

  it('names the jobs of gone holders counted with no batch id known (unsettled), once each', () => {
    const unknown = slot('u', 1, { held: true, live: false, enqueued: true, unsettled: true, job: 'b' });
    const again = slot('v', 2, { held: true, live: false, enqueued: true, unsettled: true, job: 'b' });
    const known = slot('k', 3, { held: true, live: false, enqueued: true, job: 'c' });
    expect(quotaVerdict([unknown, again, known, slot('x', 4)], me('x'), { tokens: 100 }).unsettled).toEqual(['b']);
  });

  it('under a limit, waits for a held batch whose tokens were not counted (it fills the limit) and names its job; without one, grants', () => {
    const uncounted = slot('n', 1, { held: true, tokens: undefined, job: 'free' });
    const small = slot('x', 2, { tokens: 1 });
    expect(quotaVerdict([uncounted, small], me('x'), { tokens: 1_000 })).toMatchObject({ grant: false, ahead: 0, uncounted: ['free'], enqueued: { tokens: 0, batches: 1 } });
    expect(quotaVerdict([uncounted, small], me('x'), {})).toMatchObject({ grant: true, uncounted: [] });
    // Once it ends (its slot gone), the part goes.
    expect(quotaVerdict([small], me('x'), { tokens: 1_000 })).toMatchObject({ grant: true, uncounted: [] });
  });

  it("keeps the asking part's own place even when its recorded owner reads as gone (it is asking, so it is live)", () => {
    expect(quotaVerdict([slot('1', 1, { live: false })], me('1'), { tokens: 100 })).toMatchObject({ grant: true, stale: [] });
  });

  it('refuses a part that has no waiting slot (nothing to grant), counting everyone in line as ahead', () => {
    expect(quotaVerdict([slot('1', 1), slot('2', 2)], me('9'), { tokens: 100 })).toMatchObject({ grant: false, ahead: 2 });
  });
});

describe('mayBeEnqueued', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');
  const sent = '2026-12-05T10:00:00Z';
  it('counts a part whose create was sent, not done and not seen ended, within its window plus an hour', () => {
    expect(mayBeEnqueued({ createStartedAt: sent }, '24h', now)).toBe(true);
    expect(mayBeEnqueued({ createStartedAt: sent, status: 'in_progress' }, '24h', now)).toBe(true);
    expect(mayBeEnqueued({ createStartedAt: sent }, '1h', now - 1)).toBe(true);
    expect(mayBeEnqueued({ createStartedAt: sent }, '1h', Date.parse(sent) + 3_600_000 + ENQUEUED_GRACE_MS)).toBe(false);
    expect(mayBeEnqueued({ createStartedAt: sent }, '2d', now + 40 * 3_600_000)).toBe(true);
  });

  it('does not count a part that is done, whose batch was seen ended, whose create was never sent, or that is gone', () => {
    expect(mayBeEnqueued({ createStartedAt: sent, done: true }, '24h', now)).toBe(false);
    for (const status of ['completed', 'failed', 'expired', 'cancelled']) expect(mayBeEnqueued({ createStartedAt: sent, status }, '24h', now)).toBe(false);
    expect(mayBeEnqueued({}, '24h', now)).toBe(false);
    expect(mayBeEnqueued(undefined, '24h', now)).toBe(false);
  });

  it('counts a part whose intent time cannot be read (safe side) and reads an unknown window as 24h', () => {
    expect(mayBeEnqueued({ createStartedAt: 'garbled' }, '24h', now)).toBe(true);
    expect(mayBeEnqueued({ createStartedAt: sent }, 'weird', now + 20 * 3_600_000)).toBe(true);
    expect(mayBeEnqueued({ createStartedAt: sent }, 'weird', now + 24 * 3_600_000)).toBe(false);
  });

  it('counts a part whose intent time cannot be read from its slot\'s last write, so that it stops counting one day', () => {
    const touched = Date.parse(sent);
    expect(mayBeEnqueued({ createStartedAt: 'garbled' }, '1h', touched + 3_600_000, touched)).toBe(true);
    expect(mayBeEnqueued({ createStartedAt: 'garbled' }, '1h', touched + 3_600_000 + ENQUEUED_GRACE_MS, touched)).toBe(false);
    // A readable intent time wins over the slot's write (which may be later: a handover rewrites the slot).
    expect(mayBeEnqueued({ createStartedAt: sent }, '1h', touched + 3_600_000 + ENQUEUED_GRACE_MS, touched + 3_600_000)).toBe(false);
  });
});
