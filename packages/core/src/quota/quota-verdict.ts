// The shared quota's decisions as plain functions: who is enqueued, who is next, what is stale. No I/O here.
import { isTerminalStatus } from '../client/schemas.js';
import { windowHours } from '../providers/provider-profile.js';

/** One part's slot under a quota key: waiting for its turn, or held (its batch may be enqueued at the provider). */
export interface QuotaSlot {
  job: string;
  part: string;
  /** Its place in line: lower waits longer (given once, when the slot is first recorded). */
  ticket: number;
  held: boolean;
  /** Estimated prompt tokens and requests of the part's batch (tokens undefined: not counted, no limit applied then). */
  tokens: number | undefined;
  requests: number;
  /** The process that recorded it is still connected. */
  live: boolean;
  /** When the slot was last written (ms since the epoch, on the deciding process's clock): at its create's intent or later. */
  touchedAt?: number;
  /** For a held slot of a gone process: whether its batch may still be enqueued (see {@link mayBeEnqueued}). */
  enqueued?: boolean;
  /** For a held slot of a gone process: its create may have been sent but no batch id was recorded (a resume settles it). */
  unsettled?: boolean;
}

/** The limits of one quota key (a missing one is not enforced). */
export interface QuotaLimits {
  tokens?: number | undefined;
}

/** What {@link quotaVerdict} decided for one waiting part. */
export interface QuotaVerdict {
  /** The part may create its batch now. */
  grant: boolean;
  /** What is counted as enqueued under the key (the held slots that still count). */
  enqueued: { tokens: number; requests: number; batches: number };
  /** Waiting parts ahead of this one. */
  ahead: number;
  /** Slots that no longer count and can be deleted: waiters of gone processes, and gone holders whose batch cannot be enqueued. */
  stale: QuotaSlot[];
  /** Jobs of gone processes counted with a create perhaps sent and no batch id known (`kbatch resume <job>` settles them). */
  unsettled: string[];
  /** Under a limit, jobs holding a batch whose tokens were not counted (created with no limit): each fills the limit until it ends. */
  uncounted: string[];
}

/**
 * Decide whether the waiting part `me` may create its batch: strict FIFO (only the oldest live waiter may go, so a
 * large batch is not starved by smaller later ones), when its tokens fit under the limit beside what is enqueued; a
 * batch larger than the whole limit goes alone when nothing is enqueued (waiting could never make it fit). Under a
 * limit, a held slot whose tokens were not counted fills it: nothing else is granted until its batch ends.
 * @example quotaVerdict([{ job: 'a', part: '1', ticket: 1, held: false, tokens: 5, requests: 1, live: true }], { job: 'a', part: '1' }, { tokens: 10 }).grant // true
 */
export function quotaVerdict(slots: readonly QuotaSlot[], me: { job: string; part: string }, limits: QuotaLimits): QuotaVerdict {
  const enqueued = { tokens: 0, requests: 0, batches: 0 };
  const stale: QuotaSlot[] = [];
  const waiters: QuotaSlot[] = [];
  const unsettled = new Set<string>();
  const uncounted = new Set<string>();
  for (const slot of slots) {
    const mine = slot.job === me.job && slot.part === me.part;
    if (slot.held && (slot.live || slot.enqueued === true)) {
      enqueued.tokens += slot.tokens ?? 0;
      if (slot.tokens === undefined && limits.tokens !== undefined) uncounted.add(slot.job);
      enqueued.requests += slot.requests;
      enqueued.batches++;
      if (!slot.live && slot.unsettled === true) unsettled.add(slot.job);
    } else if (!slot.held && (slot.live || mine)) waiters.push(slot);
    else stale.push(slot);
  }
  waiters.sort((a, b) => a.ticket - b.ticket);
  const at = waiters.findIndex((s) => s.job === me.job && s.part === me.part);
  const self = waiters[at];
  const named = { stale, unsettled: [...unsettled], uncounted: [...uncounted] };
  if (self === undefined) return { grant: false, enqueued, ahead: waiters.length, ...named };
  const fits = limits.tokens === undefined || (uncounted.size === 0 && enqueued.tokens + (self.tokens ?? 0) <= limits.tokens);
  return { grant: at === 0 && (fits || enqueued.batches === 0), enqueued, ahead: at, ...named };
}

/** Past its window, a batch has ended at the provider (completed or expired): this much later its slot stops counting. */
export const ENQUEUED_GRACE_MS = 3_600_000;

/** What a job's manifest says of the part behind a slot held by a gone process. */
export interface SlotPart {
  done?: boolean;
  status?: string | undefined;
  createStartedAt?: string | undefined;
  batchId?: string | undefined;
}

/**
 * Whether the batch behind a held slot of a gone process may still be enqueued: not when the part is done or its
 * batch was seen ended, nor when its create was never sent (no intent recorded: the manifest says so), nor past the
 * job's completion window plus an hour after the create (the provider has ended it by then); otherwise it counts
 * until a resume of the job sees the batch end.
 * @param part - the part in its job's manifest (undefined: no such part, or no manifest)
 * @param touchedAt - when the slot was last written (ms): at the create's intent or later (the create follows within
 *   its request time, which the hour of grace covers); the clock's start when the manifest's `createStartedAt` is not a
 *   date (an edited manifest), so that such a slot still stops counting
 */
export function mayBeEnqueued(part: SlotPart | undefined, window: string, now: number, touchedAt?: number): boolean {
  if (part === undefined || part.done === true || part.createStartedAt === undefined) return false;
  if (part.status !== undefined && isTerminalStatus(part.status)) return false;
  const parsed = Date.parse(part.createStartedAt);
  const sent = Number.isFinite(parsed) ? parsed : touchedAt;
  const hours = /^\d+[hd]$/.test(window) ? windowHours(window) : 24;
  return sent === undefined || !Number.isFinite(sent) || now < sent + hours * 3_600_000 + ENQUEUED_GRACE_MS;
}
