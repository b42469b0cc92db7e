import { Option, type Command } from 'commander';
import { createKlusterClient, isKbatchError, KbatchError, type JobEvent, type JobOptions, type JobSummary } from '@kbatch/core';
import type { CliIo } from './io.js';
import { createProgressReporter, type ProgressMode } from './progress/index.js';
import { ExitError, EXIT } from './exit-error.js';
import { numberArg } from './flags/numbers.js';

/** The openai client type (the CLI does not depend on openai directly). */
export type KlusterClient = ReturnType<typeof createKlusterClient>;

/** Flags every API command shares. */
export interface ClientFlags {
  apiKey?: string;
  baseUrl?: string;
}

/** Flags of the commands that drive a job (submit, wait, resume, and later `kbatch run`). */
export interface JobFlags extends ClientFlags {
  concurrency?: number | string;
  window?: string;
  pollInterval?: string;
  timeout?: string;
  jobDir?: string;
  progress?: ProgressMode;
  quiet?: boolean;
  resubmit?: boolean;
  maxResubmits?: number | string;
  keepFiles?: boolean;
  cancelOnInterrupt?: boolean;
}

/** Add --api-key and --base-url. */
export function addClientFlags(cmd: Command): Command {
  return cmd
    .option('--api-key <key>', 'API key (env KLUSTER_API_KEY); never printed or saved')
    .option('--base-url <url>', 'API base URL (env KLUSTER_BASE_URL, default https://api.kluster.ai/v1)');
}

/**
 * Add the job flags: --concurrency, --poll-interval, --timeout, --no-resubmit, --max-resubmits, --keep-files, --cancel-on-interrupt, --progress,
 * --quiet, plus --window and --job-dir when `submit` (the commands that create a job).
 */
export function addJobFlags(cmd: Command, { create = false } = {}): Command {
  addClientFlags(cmd);
  if (create) {
    cmd
      .option('--window <window>', 'completion window: 1h, 3h, 6h, 12h or 24h', '24h')
      .option('--job-dir <dir>', 'job directory (default: a new .kbatch/jobs/<id>/)');
  }
  return cmd
    .addOption(new Option('--concurrency <n>', 'uploads/creates/polls at a time').argParser(numberArg).default(4))
    .option('--poll-interval <duration>', 'longest wait between status polls (e.g. 15s, 1m)', '15s')
    .option('--timeout <duration>', 'stop after this long: waiting on batches and, in kbatch run, realtime requests too (AWAIT_TIMEOUT; the job stays resumable)')
    .option('--no-resubmit', 'do not resubmit the never-run requests of an expired batch')
    .addOption(
      new Option('--max-resubmits <n>', 'resubmit the never-run requests of an expired batch at most n times; after that they fail as BATCH_EXPIRED')
        .argParser(numberArg)
        .default(3),
    )
    .option('--keep-files', 'keep the uploaded input files on the server (default: deleted once their batch finished and its results are downloaded)')
    .option('--cancel-on-interrupt', 'on Ctrl-C, cancel the job\'s batches (finished results are kept)')
    .addOption(new Option('--progress <mode>', 'progress on stderr').choices(['auto', 'bar', 'plain', 'json', 'none']).default('auto'))
    .option('-q, --quiet', 'no progress output');
}

/**
 * The openai client for these flags (flags override KLUSTER_API_KEY / KLUSTER_BASE_URL from `io.env`).
 * @throws KbatchError API_KEY_MISSING naming the variable to set
 */
export function clientFromFlags(flags: ClientFlags, io: CliIo): KlusterClient {
  return createKlusterClient({
    env: io.env as Record<string, string | undefined>,
    ...(flags.apiKey === undefined ? {} : { apiKey: flags.apiKey }),
    ...(flags.baseUrl === undefined ? {} : { baseURL: flags.baseUrl }),
  });
}

/** Map job flags onto core job options (core validates them). */
export function jobOptionsFromFlags(flags: JobFlags): Omit<JobOptions, 'client'> {
  return {
    concurrency: flags.concurrency as number,
    ...(flags.window === undefined ? {} : { window: flags.window }),
    ...(flags.pollInterval === undefined ? {} : { pollIntervalMs: parseDuration(flags.pollInterval, '--poll-interval') }),
    ...(flags.timeout === undefined ? {} : { timeoutMs: parseDuration(flags.timeout, '--timeout') }),
    noResubmit: flags.resubmit === false,
    ...(flags.maxResubmits === undefined ? {} : { maxResubmits: flags.maxResubmits as number }),
    ...(flags.keepFiles ? { keepFiles: true } : {}),
    cancelOnInterrupt: flags.cancelOnInterrupt === true,
  };
}

/** The progress mode the flags ask for (`--quiet` wins). */
export function progressMode(flags: JobFlags): ProgressMode {
  return flags.quiet ? 'none' : (flags.progress ?? 'auto');
}

/**
 * Parse `500ms`, `15s`, `2m`, `1h` (a bare number is seconds) into milliseconds.
 * @throws KbatchError OPTION_INVALID naming the flag
 */
export function parseDuration(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) throw new KbatchError('OPTION_INVALID', `Invalid option \`${flag}\`: must be a duration such as 30s, 5m or 1h, got ${JSON.stringify(value)}`, { field: flag });
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(n * unit);
  if (ms <= 0) throw new KbatchError('OPTION_INVALID', `Invalid option \`${flag}\`: must be a positive duration, got ${JSON.stringify(value)}`, { field: flag });
  return ms;
}

/**
 * Run `fn` with an AbortSignal that fires on the first Ctrl-C (SIGINT) or SIGTERM; a second one exits at once.
 * When `fn` then stops with ABORTED, `onAborted` gets its message (the resume hint) and an ExitError follows:
 * 130 after SIGINT, 143 after SIGTERM (128 + the signal's number, as a shell reports it).
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>, onAborted: (message: string) => void): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const exitCode = () => (received === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted);
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCode());
    received = signal;
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (!isKbatchError(err) || err.code !== 'ABORTED') throw err;
    onAborted(err.message);
    throw new ExitError(exitCode());
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Drive a job the way every job command does: client from flags, progress on stderr, Ctrl-C → resumable stop,
 * summary on stderr (a `{"type":"summary"}` JSON line with `--progress json`; with `--quiet` only when some
 * requests failed or are missing), exit code 3 when some requests failed or are missing, 130 when interrupted.
 * @param run - calls runBatchJob/resumeJob with the mapped options
 * @param onSummary - called with the final summary (before the exit code is decided)
 * @param onJob - called once with the job directory as soon as the job exists (before any upload)
 */
export async function executeJob(
  io: CliIo,
  flags: JobFlags,
  run: (options: JobOptions) => Promise<JobSummary>,
  onSummary?: (summary: JobSummary) => void,
  onJob?: (jobDir: string) => void,
): Promise<JobSummary> {
  const client = clientFromFlags(flags, io);
  const mode = progressMode(flags);
  const progress = createProgressReporter({ stream: io.stderr, mode });
  let jobSeen = false;
  const onProgress = (e: JobEvent) => {
    if (e.type === 'job' && !jobSeen) {
      jobSeen = true;
      onJob?.(e.jobDir);
    }
    progress.onEvent(e);
  };
  let summary: JobSummary;
  try {
    summary = await withInterrupt(
      (signal) => run({ ...jobOptionsFromFlags(flags), client, signal, onProgress }),
      (message) => {
        progress.done();
        io.stderr.write(`${message}\n`);
      },
    );
  } catch (err) {
    progress.done();
    throw err;
  }
  progress.done();
  const unsuccessful = summary.state !== 'completed' && summary.state !== 'running';
  if (mode === 'json') io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'summary', ...summary })}\n`);
  else if (!flags.quiet || unsuccessful) io.stderr.write(formatSummary(summary));
  onSummary?.(summary);
  if (unsuccessful) throw new ExitError(EXIT.partial);
  return summary;
}

/** The human summary of a job (stderr). */
export function formatSummary(s: JobSummary): string {
  const lines = [
    `job ${s.jobId} ${s.state}: ${s.succeeded}/${s.requests} succeeded, ${s.failed} failed, ${s.pending} without result`,
  ];
  for (const p of s.parts) {
    if (p.status === 'failed') lines.push(`  part ${p.index}: batch ${p.batchId ?? '?'} failed validation (${p.lineErrors} errors) [${p.code ?? 'BATCH_FAILED'}]`);
    else if (p.code && !p.resubmittedAs) lines.push(`  part ${p.index}: batch ${p.batchId ?? '?'} ${p.status}, ${p.completed}/${p.total} completed [${p.code}]`);
  }
  // `line` is the request's line in the part's chunk file; its custom_id names the input row it came from.
  for (const e of s.lineErrors.slice(0, 20)) {
    lines.push(
      `  part ${e.part}${e.line === null ? '' : ` line ${e.line}`}${e.customId === null ? '' : ` (custom_id ${e.customId})`}: ${e.code ?? 'error'}: ${e.message ?? ''}`,
    );
  }
  if (s.lineErrors.length > 20) lines.push(`  … ${s.lineErrors.length - 20} more (see ${s.jobDir}/manifest.json)`);
  if (s.state !== 'running') lines.push(`results: kbatch results ${s.jobDir} > results.jsonl`);
  else lines.push(`continue with: kbatch resume ${s.jobDir}`);
  return `${lines.join('\n')}\n`;
}
