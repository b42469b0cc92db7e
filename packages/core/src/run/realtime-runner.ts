// The run's bridge to runRealtimeJob.
import { crashPoint } from '../job/crash-point.js';
import { runRealtimeJob } from '../realtime/run-realtime-job.js';
import type { RealtimeClientInput } from '../realtime/fast-client.js';
import type { RealtimeJobSummary } from '../realtime/run-to-files.js';
import type { RealtimeResultLine } from '../realtime/realtime-types.js';
import type { ResolvedRunJobOptions, RunEvent, RunJobOptions } from './run-options.js';
import type { RunSettings } from '../state/run-state.js';
import type { RunDeadline } from './run-deadline.js';
import type { RealtimeBudget } from '../realtime/realtime-budget.js';
import { priceFor } from '../cost/prices.js';
import { DEFAULT_PROVIDER } from '../providers/resolve-provider.js';

/**
 * Default chunk size (requests) in `mode: 'realtime'`: rows are written as answers arrive, but a chunk's answers
 * index and held records are what the join keeps in memory, and its results file what a retry round rewrites
 * (batch mode keeps 50,000).
 */
export const REALTIME_MAX_REQUESTS = 1000;

/** Runs request files realtime with the run's client and realtime settings, reporting progress as `realtime` events. */
export interface RealtimeRunner {
  run(
    requestFiles: string[],
    resultFiles: string[],
    answersLog: string | undefined,
    total: number,
    onFileDone?: (index: number) => Promise<void>,
    onResult?: (line: RealtimeResultLine, index: number) => void,
  ): Promise<RealtimeJobSummary>;
}

/** What {@link realtimeRunner} binds: the run's job directory, stored settings, options (as given and resolved), events, abort and deadline. */
export interface RealtimeRunnerOptions {
  jobDir: string;
  settings: RunSettings;
  given: RunJobOptions;
  opts: ResolvedRunJobOptions;
  emit: (e: RunEvent) => void;
  signal: AbortSignal;
  deadline: RunDeadline;
}

/** The runner for this run: client, pacing and lock settings bound once; progress counted per call. */
export function realtimeRunner({ jobDir, settings, given, opts, emit, signal, deadline }: RealtimeRunnerOptions): RealtimeRunner {
  const send = (signal: AbortSignal, [requestFiles, resultFiles, answersLog, total, onFileDone, onResult]: Parameters<RealtimeRunner['run']>) => {
    let done = 0;
    let failed = 0;
    return runRealtimeJob({
      jobDir,
      requestFiles,
      resultFiles,
      ...(answersLog !== undefined ? { answersLog } : {}),
      ...(onFileDone ? { onFileDone: (_chunk: unknown, index: number) => onFileDone(index) } : {}),
      ...(onResult ? { onResult } : {}),
      // The run holds its job directory's lock for the whole run.
      lockHeld: true,
      client: opts.client as unknown as RealtimeClientInput,
      // The batch default (4 uploads at a time) is no realtime concurrency: unset, the realtime default applies.
      ...(settings.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
      ...(settings.rpm !== undefined ? { rpm: settings.rpm } : {}),
      ...(settings.tpm !== undefined ? { tpm: settings.tpm } : {}),
      ...(settings.requestRetries !== undefined ? { retries: settings.requestRetries } : {}),
      ...(settings.requestTimeoutMs !== undefined ? { timeoutMs: settings.requestTimeoutMs } : {}),
      ...(given.retryBaseMs !== undefined ? { retryBaseMs: opts.retryBaseMs } : {}),
      ...(opts.maxCost !== undefined ? { budget: realtimeBudget(settings, opts.maxCost, opts.priceOf) } : {}),
      signal,
      onEvent: (event) => {
        if (event.type === 'answered') {
          done++;
          if (!event.replayed) crashPoint('run-during-realtime');
        } else if (event.type === 'failed') {
          done++;
          failed++;
        }
        emit({ type: 'realtime', event, done, failed, total });
      },
    });
  };
  return {
    async run(...args) {
      const left = deadline.remaining();
      if (left <= 0) throw deadline.expired('realtime');
      // The run's time runs out mid-round: the engine is aborted; answers already logged stay, so a resume sends only the rest.
      const timer = left === Infinity ? undefined : AbortSignal.timeout(Math.max(1, Math.ceil(left)));
      let summary: RealtimeJobSummary;
      try {
        summary = await send(timer ? AbortSignal.any([signal, timer]) : signal, args);
      } catch (err) {
        if (timer?.aborted && !signal.aborted) throw deadline.expired('realtime', err);
        throw err;
      }
      crashPoint('run-after-realtime');
      return summary;
    },
  };
}

/** `--max-cost` of a realtime run: its answers' spend, at the model's realtime price, stops sending at the cap. */
function realtimeBudget(settings: RunSettings, maxCost: number, priceOf: RealtimeBudget['priceOf'] | undefined): RealtimeBudget {
  const max = settings.request['max_completion_tokens'] ?? settings.request['max_tokens'];
  return {
    maxCost,
    priceOf: priceOf ?? priceFor,
    // The profile name: a recorded provider may add its base URL after a space.
    provider: (settings.provider ?? DEFAULT_PROVIDER).split(' ')[0]!,
    model: String(settings.request['model']),
    ...(typeof max === 'number' ? { maxCompletionTokens: max } : {}),
  };
}
