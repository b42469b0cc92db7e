// A realtime run's spending cap: each request's worst case is reserved before it is sent, answers settle it with their usage.
import { KbatchError } from '../errors.js';
import { costOf, UsageTally } from '../cost/spend.js';
import type { Price, PriceOf } from '../cost/spend-types.js';
import type { BatchRequestLine } from '../request/request-line.js';
import { estimatePromptTokens } from './estimate-tokens.js';
import type { RealtimeResultLine } from './realtime-types.js';

/** Completion tokens reserved for a request that sets no `max_completion_tokens`/`max_tokens` (and no budget default). */
export const DEFAULT_BUDGET_COMPLETION_TOKENS = 4096;

/** The `budget` option of the realtime runner. */
export interface RealtimeBudget {
  /** Most USD the answers of this run may cost (answers replayed from its answers log count: they were paid). */
  maxCost: number;
  /** The price lookup (cost/prices.ts' `priceFor`); the model's realtime price must be known. */
  priceOf: PriceOf;
  provider: string;
  model: string;
  /** Completion tokens a request without a max is assumed to use at worst (default {@link DEFAULT_BUDGET_COMPLETION_TOKENS}). */
  maxCompletionTokens?: number;
}

/** How a realtime run keeps to its budget (see {@link createBudgetGuard}). */
export interface BudgetGuard {
  /** Reserve a request's worst case before it is sent; false when that would cross the cap (then it is not sent). */
  reserve(request: BatchRequestLine): boolean;
  /** Its final result came (sent or replayed): release the reservation, count what the answer's usage cost. */
  settle(request: BatchRequestLine, line: RealtimeResultLine): void;
  /** BUDGET_EXCEEDED for `notSent` requests left unsent. */
  exceeded(notSent: number): KbatchError;
}

/**
 * A guard for `budget`: spent (reported usage at the realtime price) + reserved (worst cases of the requests in
 * flight) never passes `maxCost`. A request's worst case is its estimated prompt tokens (see `estimatePromptTokens`)
 * at the input price plus its max completion tokens at the output price.
 * @example const guard = createBudgetGuard({ maxCost: 5, priceOf: priceFor, provider: 'kluster', model });
 */
export function createBudgetGuard(budget: RealtimeBudget): BudgetGuard {
  const price = budget.priceOf({ provider: budget.provider, model: budget.model, mode: 'realtime' });
  if (!price) {
    throw new KbatchError('OPTION_INVALID', `Invalid option \`budget\`: no realtime price is known for ${budget.model} on ${budget.provider}, so a cost cap cannot be kept`);
  }
  const fallback = budget.maxCompletionTokens ?? DEFAULT_BUDGET_COMPLETION_TOKENS;
  // Reservations by request (a custom_id is sent once per run).
  const held = new Map<string, number>();
  let spent = 0;
  let reserved = 0;
  return {
    reserve(request) {
      const cost = worstCase(request, price, fallback);
      if (spent + reserved + cost > budget.maxCost) return false;
      held.set(request.custom_id, cost);
      reserved += cost;
      return true;
    },
    settle(request, line) {
      reserved -= held.get(request.custom_id) ?? 0;
      held.delete(request.custom_id);
      const tally = new UsageTally(budget.model);
      tally.addBody('realtime', line.response?.body);
      const counts = tally.models.get(budget.model)?.realtime;
      if (counts) spent += costOf(counts, price);
    },
    exceeded(notSent) {
      return new KbatchError(
        'BUDGET_EXCEEDED',
        `realtime spend would pass the cap of $${budget.maxCost}: $${spent.toFixed(6)} spent, ${notSent} request${notSent === 1 ? '' : 's'} not sent; the answers received are kept: rerun with a higher cap to send the rest`,
      );
    },
  };
}

/** USD a request may cost at most: its estimated prompt at the input price, its max completion at the output price. */
function worstCase(request: BatchRequestLine, price: Price, fallback: number): number {
  const body = request.body as Partial<BatchRequestLine['body']> | undefined;
  if (!body || !Array.isArray(body.messages)) return 0; // not a request: refused as LINE_INVALID before sending
  const completion = body.max_completion_tokens ?? (body as { max_tokens?: number }).max_tokens ?? fallback;
  return costOf({ requests: 1, promptTokens: estimatePromptTokens({ messages: body.messages }), completionTokens: completion, reasoningTokens: 0, cachedTokens: 0 }, price);
}
