// The summary of a several-model run: each model's own, and the sums a reader looks at first.
import type { EvalResult } from '../eval/eval-result.js';
import type { Spend } from '../cost/spend-types.js';
import type { RunSummary } from '../run/run-options.js';
import { formatRunSummary } from '../run/run-summary.js';
import type { ModelAgreement } from './model-figures.js';

/** One model of a several-model run: its id, field prefix, sub-job and that sub-job's own summary. */
export interface ModelRun {
  model: string;
  alias: string;
  jobDir: string;
  summary: RunSummary;
}

/**
 * A several-model run's summary. `records`, `succeeded` (every model answered the record) and `failed` (some model
 * did not) count records; `skipped` counts records skipped while preparing (the same in each model); the other counts,
 * tokens, batches and the spend are sums over the models' answers. Each model's own figures are in `models`.
 */
export interface ModelsSummary extends RunSummary {
  models: ModelRun[];
  /** Cohen's kappa (and raw agreement) between every pair of models over their labels; [] without labels. */
  agreement: ModelAgreement[];
  /** With a gold column: each model's figures against it, by alias (`evaluate()`'s). */
  evaluations?: Record<string, EvalResult>;
}

/** True when a run's summary is a several-model run's. */
export function isModelsSummary(summary: RunSummary): summary is ModelsSummary {
  return Array.isArray((summary as Partial<ModelsSummary>).models);
}

const SUMMED = ['requestErrors', 'invalidAnswers', 'missing', 'retried', 'retryRequests', 'promptTokens', 'completionTokens', 'cached', 'batches', 'realtimeRequests', 'stragglerRequests', 'unknownResults', 'duplicateResults'] as const;

/** The parent's summary from its models' (rows counted by the zip: `succeeded` of `records`). */
export function combineSummaries(models: ModelRun[], facts: { jobDir: string; records: number; succeeded: number; failed: number; started: number; outputs: RunSummary['outputs'] }): ModelsSummary {
  const subs = models.map((m) => m.summary);
  // Model A's evaluation is not the run's: each model's stays under `models` (and `evaluations`).
  const { eval: _eval, costPerCorrect: _costPerCorrect, ...first } = subs[0]!;
  const summary: ModelsSummary = {
    ...first,
    jobId: null,
    jobDir: facts.jobDir,
    records: facts.records,
    succeeded: facts.succeeded,
    failed: facts.failed,
    rounds: Math.max(...subs.map((s) => s.rounds)),
    notRetried: {},
    cachedTokens: { prompt: 0, completion: 0 },
    wallMs: Date.now() - facts.started,
    resumed: subs.some((s) => s.resumed),
    outputs: facts.outputs,
    job: null,
    spend: combineSpends(subs),
    models,
    agreement: [],
  };
  delete summary.estimate;
  for (const key of SUMMED) summary[key] = subs.reduce((n, s) => n + s[key], 0);
  for (const s of subs) {
    summary.cachedTokens.prompt += s.cachedTokens.prompt;
    summary.cachedTokens.completion += s.cachedTokens.completion;
    for (const [cause, n] of Object.entries(s.notRetried)) summary.notRetried[cause] = (summary.notRetried[cause] ?? 0) + n;
  }
  return summary;
}

/**
 * The models' spends as one: their model rows side by side, figures summed. As in one model's spend, a saving is null
 * (unknown) when any model's part of it is unknown — never a partial sum shown as the whole; a model that took nothing
 * from the cache adds 0 to the cache's saving.
 */
function combineSpends(subs: RunSummary[]): Spend {
  const spends = subs.map((s) => s.spend);
  const sum = (values: Array<number | null>): number | null => (values.includes(null) ? null : values.reduce<number>((n, v) => n + v!, 0));
  // The cost is the priced part, as one model's is, with the rest named in `unpriced` (null when nothing is priced).
  const costs = spends.map((s) => s.cost).filter((c): c is number => c !== null);
  return {
    currency: 'USD',
    models: spends.flatMap((s) => s.models),
    cost: costs.length === 0 ? null : costs.reduce((n, c) => n + c, 0),
    unpriced: spends.flatMap((s) => s.unpriced),
    batchSaved: sum(spends.map((s) => s.batchSaved)),
    cacheSaved: subs.every((s) => s.cached === 0) ? null : sum(subs.map((s) => (s.cached === 0 ? 0 : s.spend.cacheSaved))),
    prices: spends.find((s) => s.prices !== null)?.prices ?? null,
  };
}

/**
 * The summary as text: each model's line (its records, tokens, cost, accuracy with gold), then each pair's kappa.
 * @example formatModelsSummary(s) // 'model Llama-3.1-8B: 30 succeeded, 0 failed; 900 + 30 tokens; …'
 */
export function formatModelsSummary(s: ModelsSummary): string {
  const fixed = (v: number | null, digits = 3): string => (v === null ? 'n/a' : v.toFixed(digits));
  const lines = [formatRunSummary(s).trimEnd()];
  for (const m of s.models) {
    const e = s.evaluations?.[m.alias];
    const cost = m.summary.spend.cost === null ? 'cost unknown' : `$${m.summary.spend.cost.toPrecision(3)}`;
    lines.push(
      `model ${m.alias} (${m.model}): ${m.summary.succeeded} succeeded, ${m.summary.failed} failed; tokens ${m.summary.promptTokens} prompt + ${m.summary.completionTokens} completion; ${cost}` +
        (e ? `; accuracy ${fixed(e.accuracy)} (${e.correct}/${e.scored}), macro-F1 ${fixed(e.macro_f1)}, kappa ${fixed(e.kappa)}` : ''),
    );
  }
  for (const p of s.agreement) lines.push(`agreement ${p.a} vs ${p.b}: kappa ${fixed(p.kappa)}, same label ${fixed(p.agreement)} of ${p.scored} rows both answered`);
  return `${lines.join('\n')}\n`;
}
