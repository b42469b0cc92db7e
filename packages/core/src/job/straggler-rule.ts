// When a running batch's last few requests count as stragglers (pure; the cancel is in cancel-stragglers.ts).
import { z } from 'zod';
import type { RequestCounts } from '../client/schemas.js';
import { DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';

/** Default time without progress before a batch's last few requests count as stragglers (60 s). */
export const DEFAULT_STRAGGLER_WAIT_MS = 60_000;

const positive = (unit = '') => z.int({ error: `must be a positive integer${unit}` }).positive({ error: `must be a positive integer${unit}` });

/**
 * The straggler rule: an `in_progress` batch that has made progress (some requests done), has at most
 * {@link stragglerLimit} requests left, and has not moved for `waitMs`, is cancelled so its last requests can be
 * finished elsewhere.
 */
export const StragglerRuleSchema = z.object({
  /** Most requests left for the batch to count as straggling (default: 1% of its requests, at least 1, at most `maxThreshold`). */
  threshold: positive().optional(),
  /** Cap of the default threshold (runJob passes its `autoThreshold`). */
  maxThreshold: positive().default(DEFAULT_AUTO_THRESHOLD),
  /** Time without progress (ms) before the batch is cancelled. */
  waitMs: positive(' (ms)').default(DEFAULT_STRAGGLER_WAIT_MS),
});
/** The straggler rule as given. */
export type StragglerRuleOptions = z.input<typeof StragglerRuleSchema>;
/** The straggler rule with its defaults. */
export type StragglerRule = z.output<typeof StragglerRuleSchema>;

/** The last change seen in a batch's progress: requests done and since when (ms). */
export interface StallWatch {
  done: number;
  since: number;
}

/**
 * Most requests a batch of `total` may have left to count as straggling: the rule's `threshold`, else
 * max(1, ceil(1% of total)) capped by `maxThreshold`.
 * @example stragglerLimit(200, StragglerRuleSchema.parse({})) // 2
 */
export function stragglerLimit(total: number, rule: StragglerRule): number {
  return rule.threshold ?? Math.min(rule.maxThreshold, Math.max(1, Math.ceil(total / 100)));
}

/**
 * The watch after seeing `counts` at `now`: restarted whenever the number of finished requests grew. A lower count is
 * an older view of the batch (a lagging listing), not news.
 */
export function observeProgress(watch: StallWatch | undefined, counts: RequestCounts, now: number): StallWatch {
  const done = counts.completed + counts.failed;
  return watch && done <= watch.done ? watch : { done, since: now };
}

/**
 * How long the batch has been straggling (ms), or undefined when the rule does not hold: it has done some
 * requests (a batch still queued at 0 is waiting for capacity, not straggling), 1…limit are left, and nothing
 * changed for `waitMs`.
 */
export function stragglingFor(batch: { status: string; request_counts: RequestCounts }, watch: StallWatch, now: number, rule: StragglerRule): number | undefined {
  const { status, request_counts: counts } = batch;
  const remaining = counts.total - counts.completed - counts.failed;
  if (status !== 'in_progress' || watch.done === 0 || remaining <= 0 || remaining > stragglerLimit(counts.total, rule)) return undefined;
  const idle = now - watch.since;
  return idle >= rule.waitMs ? idle : undefined;
}
