// `maxCost` over several models: the cap holds for all of them together, each model's run gets its share.
import { KbatchError } from '../errors.js';
import { checkBudget, usd, type JobEstimate } from '../cost/estimate-job.js';

/**
 * The cap over all models: this call's `maxCost`, else the one stored with the job's options (a rerun without
 * --max-cost must not hand each model the whole stored cap through the sub-jobs' options).
 */
export function appliedCap(given: number | undefined, state: { options: Record<string, unknown> }): number | undefined {
  const stored = state.options['maxCost'];
  return given ?? (typeof stored === 'number' ? stored : undefined);
}

/**
 * Each model's cap so that together they stay under `maxCost`: its worst case plus its share of the room the sum
 * leaves, in proportion to that worst case (`w + (maxCost − total)·w/total`), so a batch model passes its own check
 * exactly when the sum fits and the caps sum to at most `maxCost`; when a worst case is unknown, all are 0, or only
 * realtime models are over it, an even split (realtime runs stop sending at their cap).
 * @throws KbatchError BUDGET_EXCEEDED when the models' summed worst case is above the cap and one runs in batch mode;
 *   COST_UNKNOWN (from checkBudget) when a batch model's price or worst case is unknown
 */
export function budgetShares(estimates: readonly JobEstimate[], maxCost: number): number[] {
  for (const e of estimates) if (e.mode === 'batch') checkBudget(e, maxCost);
  const even = estimates.map(() => maxCost / estimates.length);
  const worst = estimates.map((e) => e.cost.worst_case);
  if (worst.some((w) => w === null)) return even;
  const total = (worst as number[]).reduce((n, w) => n + w, 0);
  if (total === 0) return even;
  if (total <= maxCost) return fitShares(worst as number[], total, maxCost);
  if (estimates.every((e) => e.mode === 'realtime')) return even;
  const each = estimates.map((e) => `${e.model} ${usd(e.cost.worst_case!)}`).join(', ');
  throw new KbatchError('BUDGET_EXCEEDED', `the models' worst-case cost together, ${usd(total)} (${each}), is above --max-cost ${usd(maxCost)}; nothing more was uploaded or sent. Fewer models, fewer rows or --max-completion-tokens would lower it`, { field: 'maxCost' });
}

/** The proportional shares, never below a model's worst case (its own check) nor 0 (not a valid cap), their sum trimmed of rounding. */
function fitShares(worst: number[], total: number, maxCost: number): number[] {
  const room = maxCost - total;
  const shares = worst.map((w) => Math.max(w + (room * w) / total, Number.MIN_VALUE));
  // Floating-point sums can land an ulp or two above the cap: take it back from the share with the most slack.
  for (let excess = sum(shares) - maxCost, tries = 0; excess > 0 && tries < 4; excess = sum(shares) - maxCost, tries++) {
    const i = shares.reduce((best, s, k) => (s - worst[k]! > shares[best]! - worst[best]! ? k : best), 0);
    shares[i] = Math.max(worst[i]!, shares[i]! - excess);
  }
  return shares;
}

function sum(values: readonly number[]): number {
  return values.reduce((n, v) => n + v, 0);
}
