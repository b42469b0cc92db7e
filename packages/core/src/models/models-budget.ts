// `maxCost` over several models: the cap holds for all of them together, each model's run gets its share.
import { KbatchError } from '../errors.js';
import { checkBudget, usd, type JobEstimate } from '../cost/estimate-job.js';

/**
 * Each model's cap so that together they stay under `maxCost`: its worst case plus the room the sum leaves (a batch
 * model then passes its own check exactly when the sum fits); when a worst case is unknown or only realtime models
 * are over it, an even split (realtime runs stop sending at their cap).
 * @throws KbatchError BUDGET_EXCEEDED when the models' summed worst case is above the cap and one runs in batch mode;
 *   COST_UNKNOWN (from checkBudget) when a batch model's price or worst case is unknown
 */
export function budgetShares(estimates: readonly JobEstimate[], maxCost: number): number[] {
  for (const e of estimates) if (e.mode === 'batch') checkBudget(e, maxCost);
  const even = estimates.map(() => maxCost / estimates.length);
  const worst = estimates.map((e) => e.cost.worst_case);
  if (worst.some((w) => w === null)) return even;
  const total = (worst as number[]).reduce((n, w) => n + w, 0);
  if (total <= maxCost) // w + the room left, never below w (so no rounding can fail the model's own check) and never 0 (not a valid cap).
  if (total <= maxCost) return (worst as number[]).map((w) => Math.max(w + (maxCost - total), Number.MIN_VALUE));
  if (estimates.every((e) => e.mode === 'realtime')) return even;
  const each = estimates.map((e) => `${e.model} ${usd(e.cost.worst_case!)}`).join(', ');
  throw new KbatchError('BUDGET_EXCEEDED', `the models' worst-case cost together, ${usd(total)} (${each}), is above --max-cost ${usd(maxCost)}; nothing more was uploaded or sent. Fewer models, fewer rows or --max-completion-tokens would lower it`, { field: 'maxCost' });
}
