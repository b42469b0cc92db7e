// A running step's lease, renewed every third of it: a live worker keeps its step, a killed one stops renewing and
// pg-boss hands the step to another worker once the lease runs out.
import { setTimeout as sleep } from 'node:timers/promises';

/** What {@link holdLease} needs: how often, and the renewal itself (true while the step is still this worker's). */
export interface LeaseRenewal {
  everyMs: number;
  renew: () => Promise<boolean>;
  /** A renewal that failed (the database away): the step goes on, the next renewal tries again. */
  onError?: (error: Error) => void;
  /** Renew no more, and abort `lost`, once the lease has been held this long (the step is then stopped and handed on); default: no cap. */
  maxMs?: number;
  /** Told once, when `maxMs` stops the renewals. */
  onCapped?: () => void;
}

/** A held lease: `lost` aborts when a renewal finds the step no longer this worker's, or at the cap. */
export interface HeldLease {
  lost: AbortSignal;
  /** True once the cap stopped the renewals (the step is still this worker's to hand back), not a lease found gone. */
  readonly capped: boolean;
  /** Stop renewing (the step is settled); resolves once no renewal is under way. */
  release(): Promise<void>;
}

/**
 * Renew a step's lease every `everyMs` until released; abort `lost` (and stop) when a renewal finds the step gone.
 * @example const lease = holdLease({ everyMs: 100_000, renew: () => queue.renew([step]).then((ids) => ids.has(step.id)) });
 */
export function holdLease({ everyMs, renew, onError, maxMs = Infinity, onCapped }: LeaseRenewal): HeldLease {
  const lost = new AbortController();
  const released = new AbortController();
  const started = Date.now();
  let capped = false;
  const loop = (async () => {
    for (;;) {
      const due = await sleep(everyMs, true, { signal: released.signal }).catch(() => false);
      if (!due) return;
      if (Date.now() - started > maxMs) {
        capped = true;
        onCapped?.();
        // Stopped, the step saves its state and frees the job's lock, so the worker the step goes to can drive the job.
        return lost.abort(new Error('the step ran past its lease cap'));
      }
      try {
        if (!(await renew())) return lost.abort(new Error('the step is no longer this worker\'s: its lease ran out'));
      } catch (error) {
        onError?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
  })();
  return {
    lost: lost.signal,
    get capped() {
      return capped;
    },
    release: async () => {
      released.abort();
      await loop;
    },
  };
}

/** Every third of the lease: two renewals may fail (a database restart) before the step is handed on. */
export const renewalIntervalMs = (leaseSeconds: number): number => Math.max(100, Math.floor((leaseSeconds * 1000) / 3));

/**
 * The longest a worker renews a step's lease: its slice plus 10 leases (default 60 s + 50 min). A slice ends at its
 * slice time save for work that cannot stop midway (a long join, a part's download); past this, the step is taken for hung.
 */
export const leaseCapMs = (sliceMs: number, leaseSeconds: number): number => sliceMs + 10 * leaseSeconds * 1000;
