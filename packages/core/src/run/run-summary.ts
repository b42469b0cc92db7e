// The outcome of a run, as data and as text.
import type { JobManifest } from '../state/manifest.js';
import { summarizeJob } from '../job/summary.js';
import type { JobSummary } from '../job/job-types.js';
import type { JobJoinReport } from '../join/ordered-join.js';
import type { RunSummary } from './run-options.js';
import type { RunState } from '../state/run-state.js';
import { DEFAULT_PROVIDER } from '../providers/resolve-provider.js';
import { formatSpend, spendOf, type UsageTally } from '../cost/spend.js';
import { usd } from '../cost/estimate-job.js';
import { priceFor } from '../cost/prices.js';
import type { PriceOf, SpendMode } from '../cost/spend-types.js';
import { chooseMode, DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import { formatEvaluationBrief } from '../eval/format-evaluation.js';
import { formatSample } from './run-sample.js';

/** The join's counts plus the tokens of every attempt (superseded ones included). */
export interface RunJoinReport extends JobJoinReport {
  allPromptTokens: number;
  allCompletionTokens: number;
  /** The same tokens per model and by how they were sent (with reasoning and cached tokens): the spend. */
  usage: UsageTally;
}

/** Where and how the run went, besides its state, manifest and join report. */
export interface RunFacts {
  jobDir: string;
  /** When the run started (ms since the epoch). */
  started: number;
  resumed: boolean;
  outputs: RunSummary['outputs'];
  /** Prices for the spend (default: none known, so costs are unknown). */
  priceOf?: PriceOf;
}

/** The run summary from the state, the manifest and the join report. */
export function summarize(state: RunState, manifest: JobManifest | null, report: RunJoinReport, run: RunFacts): RunSummary {
  const { jobDir, started, resumed, outputs } = run;
  const job: JobSummary | null = manifest && state.mode !== 'realtime' ? summarizeJob(jobDir, manifest) : null;
  const roundRequests = state.rounds.map((r) => r.parts.reduce((n, p) => n + p.requests, 0));
  const stragglerRequests = state.stragglers.reduce((n, s) => n + s.requests, 0);
  const realtimeRequests =
    stragglerRequests +
    (state.mode === 'realtime' ? state.chunks.reduce((n, c) => n + c.requests, 0) : 0) +
    state.rounds.reduce((n, r, i) => n + (r.via === 'realtime' ? roundRequests[i]! : 0), 0);
  const records = report.records + report.skipped;
  const notRetried: Record<string, number> = {};
  for (const { causes } of state.notRetried ?? []) for (const [cause, n] of Object.entries(causes)) notRetried[cause] = (notRetried[cause] ?? 0) + n;
  return {
    jobId: manifest?.jobId ?? null,
    jobDir,
    records,
    succeeded: report.succeeded,
    cached: report.cached,
    cachedTokens: report.cachedTokens,
    failed: records - report.succeeded,
    requestErrors: report.failed,
    invalidAnswers: report.invalid,
    missing: report.missing,
    skipped: report.skipped,
    retried: roundRequests[0] ?? 0,
    retryRequests: roundRequests.reduce((a, b) => a + b, 0),
    rounds: state.rounds.length,
    notRetried,
    promptTokens: report.allPromptTokens,
    completionTokens: report.allCompletionTokens,
    batches: manifest ? manifest.parts.filter((p) => p.batchId).length : 0,
    mode: state.mode ?? 'batch',
    realtimeRequests,
    stragglerRequests,
    unknownResults: report.unknown,
    duplicateResults: report.duplicates,
    wallMs: Date.now() - started,
    resumed,
    outputs,
    job,
    spend: spendOf(report.usage, {
      priceOf: run.priceOf ?? priceFor,
      provider: state.settings.provider ?? DEFAULT_PROVIDER,
      window: state.settings.window,
      // What the cache's answers would have cost today, in the mode the run would have sent them in without the cache.
      cached: { answers: report.cached, tokens: report.cachedTokens, withoutUsage: report.cachedWithoutUsage, model: String(state.settings.request['model'] ?? ''), mode: uncachedMode(state) },
    }),
  };
}

/**
 * The mode the run would have chosen without the cache: `auto` settles from all the requests, the cached ones included
 * (a run the cache answered almost whole is realtime only because of the cache); a mode given is that mode.
 */
function uncachedMode(state: RunState): SpendMode {
  const { settings } = state;
  if (settings.mode !== 'auto' || state.mode === undefined) return state.mode ?? 'batch';
  const requests = state.chunks.reduce((n, c) => n + c.requests, state.cached ?? 0);
  return chooseMode({ mode: 'auto', requests, autoThreshold: settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD, provider: settings.provider });
}

/**
 * One-line-per-fact human summary of a run (the CLI writes it to stderr).
 * @example formatRunSummary(s) // 'kbatch run: 30 records, 30 succeeded, 0 failed, 2 retried; …'
 */
export function formatRunSummary(s: RunSummary): string {
  const lines = [
    `records ${s.records}: ${s.succeeded} succeeded, ${s.failed} failed` +
      (s.failed > 0 ? ` (${s.requestErrors} request errors, ${s.invalidAnswers} invalid answers, ${s.missing} without result, ${s.skipped} skipped)` : '') +
      `, ${s.retried} retried${s.rounds > 0 ? ` in ${s.rounds} round${s.rounds === 1 ? '' : 's'}` : ''}` +
      (s.cached > 0 ? `; ${s.cached} answered from the cache (${s.spend.cacheSaved === null ? `saving unknown: ${s.spend.cachedWithoutUsage ? `${s.spend.cachedWithoutUsage} stored without token counts` : 'no price'}` : `saving ${usd(s.spend.cacheSaved)}`} at today's prices)` : ''),
    `tokens ${s.promptTokens} prompt + ${s.completionTokens} completion; ${s.batches} batch${s.batches === 1 ? '' : 'es'}` +
      (s.realtimeRequests > 0 ? ` + ${s.realtimeRequests} realtime request${s.realtimeRequests === 1 ? '' : 's'}` : '') +
      (s.stragglerRequests > 0 ? ` (${s.stragglerRequests} straggler${s.stragglerRequests === 1 ? '' : 's'})` : '') +
      `; wall time ${(s.wallMs / 1000).toFixed(1)}s`,
  ];
  if (s.sample !== undefined) lines.unshift(formatSample(s.sample));
  const held = Object.entries(s.notRetried ?? {});
  if (held.length > 0) {
    const total = held.reduce((n, [, c]) => n + c, 0);
    lines.push(`not retried: ${total} request${total === 1 ? '' : 's'} whose failure a retry cannot change (${held.map(([cause, n]) => `${cause}: ${n}`).join(', ')})`);
  }
  // The same prompt tends to get the same answer: retries help little where a clearer prompt would.
  lines.push(...formatSpend(s.spend));
  if (s.eval !== undefined) lines.push(...formatEvaluationBrief(s.eval, s.costPerCorrect ?? null));
  if (s.invalidAnswers > 0) lines.push(`invalid answers: ${s.invalidAnswers}; a changed prompt (or labels/schema) would help more than retrying it`);
  if (s.unknownResults + s.duplicateResults > 0) lines.push(`${s.unknownResults} unknown and ${s.duplicateResults} duplicate results (listed with --verbose)`);
  if (s.outputs.output && s.outputs.output !== '-') lines.push(`output: ${s.outputs.output}`);
  if (s.outputs.rejects && s.failed > 0) lines.push(`rejects: ${s.outputs.rejects}`);
  lines.push(`job: ${s.jobDir}`);
  return `${lines.join('\n')}\n`;
}
