// A run's `timeoutMs` as one deadline over all of its sending phases (batches, realtime, straggler and retry rounds).
import { KbatchError } from '../errors.js';

/** What is left of a run's time budget. */
export interface RunDeadline {
  /** The budget (ms), or undefined when the run has no timeout. */
  readonly timeoutMs: number | undefined;
  /** Milliseconds left (Infinity without a timeout). */
  remaining(): number;
  /** The AWAIT_TIMEOUT error of this run: what was still running, and how to continue. */
  expired(what: 'batches' | 'realtime', cause?: unknown): KbatchError;
}

/**
 * The deadline of a run's sending phases, counted from `started`: every phase that sends or waits gets only what is
 * left, so `--timeout` bounds the whole run, whatever mode it runs in.
 */
export function runDeadline(jobDir: string, timeoutMs: number | undefined, started = Date.now()): RunDeadline {
  const seconds = timeoutMs === undefined ? '' : `${Number((timeoutMs / 1000).toFixed(timeoutMs < 10_000 ? 1 : 0))}s`;
  return {
    timeoutMs,
    remaining: () => (timeoutMs === undefined ? Infinity : started + timeoutMs - Date.now()),
    expired: (what, cause) =>
      new KbatchError(
        'AWAIT_TIMEOUT',
        what === 'batches'
          ? `Batches still running after ${seconds}; continue with: kbatch resume ${jobDir}`
          : `Realtime requests still unanswered after ${seconds} (the answers received are saved); continue with: kbatch resume ${jobDir}`,
        cause === undefined ? {} : { cause },
      ),
  };
}
