import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { createClient, createKlusterClient, getProvider, KbatchError, PROVIDER_NAMES, type JobOptions, type JobStore } from '@kbatch/core';
import { checkRecordedProvider, markLocalClient, recordedProvider } from '@kbatch/core/internal';
import type { CliIo } from '../io.js';
import type { ProgressMode } from '../progress/index.js';
import { numberArg } from './numbers.js';

/** The openai client type (the CLI does not depend on openai directly). */
export type KlusterClient = ReturnType<typeof createKlusterClient>;

/** Flags every API command shares. */
export interface ClientFlags {
  provider?: string;
  apiKey?: string;
  baseUrl?: string;
  /** kbatch run --local: the server is an in-process emulator, gone when the command ends (its URL is not recorded). */
  local?: boolean;
}

/** Flags of the commands that drive a job (submit, wait, resume, and later `kbatch run`). */
export interface JobFlags extends ClientFlags {
  concurrency?: number | string;
  window?: string;
  outputExpiresAfter?: string;
  pollInterval?: string;
  timeout?: string;
  resultFileGrace?: string;
  acceptMissingOutput?: boolean;
  jobDir?: string;
  progress?: ProgressMode;
  quiet?: boolean;
  resubmit?: boolean;
  maxResubmits?: number | string;
  keepFiles?: boolean;
  cancelOnInterrupt?: boolean;
  /** With a database (run, resume): the shared quota's limit. */
  maxEnqueuedTokens?: number | string;
}

/** Add --provider, --api-key and --base-url. */
export function addClientFlags(cmd: Command): Command {
  return addProviderFlag(cmd)
    .option('--api-key <key>', "API key (default: the provider's variable, e.g. KLUSTER_API_KEY, OPENAI_API_KEY); never printed or saved")
    .option('--base-url <url>', "API base URL as the provider's SDK takes it, with /v1 (default: the provider's, or its variable, e.g. KLUSTER_BASE_URL)");
}

/**
 * Add --provider (once: `run` gets it from both its chunk and its client flags). The name is checked when used,
 * so an unknown one is OPTION_INVALID listing the names.
 */
export function addProviderFlag(cmd: Command): Command {
  if (cmd.options.some((o) => o.long === '--provider')) return cmd;
  return cmd.option('--provider <name>', `provider profile: ${PROVIDER_NAMES.join(', ')} (default kluster; see kbatch providers)`);
}

/**
 * Add the job flags: --concurrency, --poll-interval, --timeout, --result-file-grace, --accept-missing-output, --no-resubmit, --max-resubmits, --keep-files, --cancel-on-interrupt, --progress,
 * --quiet, plus --window, --job-dir and --output-expires-after when `submit` (the commands that create a job).
 */
export function addJobFlags(cmd: Command, { create = false } = {}): Command {
  addClientFlags(cmd);
  if (create) {
    cmd
      .option('--window <window>', "completion window, one the provider offers (kluster: 1h, 3h, 6h, 12h or 24h; see kbatch providers)", '24h')
      .option('--job-dir <dir>', 'job directory (default: a new .kbatch/jobs/<id>/)')
      .option('--output-expires-after <duration>', "keep each batch's output files this long after they are written (OpenAI's output_expires_after: 1h to 30d, e.g. 7d or 3600s; refused on providers without it)");
  }
  return cmd
    .addOption(new Option('--concurrency <n>', 'uploads/creates/polls at a time').argParser(numberArg).default(4))
    .option('--poll-interval <duration>', 'longest wait between status polls (e.g. 15s, 1m)', '15s')
    .option('--timeout <duration>', 'stop after this long: waiting on batches and, in kbatch run, realtime requests too (AWAIT_TIMEOUT; the job stays resumable)')
    .option('--result-file-grace <duration>', 'how long an ended batch may name its error file but not its output file (Together sends no counts) before kbatch stops with BATCH_OUTPUT_MISSING instead of resending (default 10m)')
    .option(
      '--accept-missing-output',
      'finish an ended batch that names its error file but no output file at once, its unanswered requests read as never run and sent again: pays twice for any answer the provider did produce, so first check the batch\'s output_file_id at the provider',
    )
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
  const client = createClient({
    env: io.env as Record<string, string | undefined>,
    ...(flags.provider === undefined ? {} : { provider: providerFlag(flags.provider) }),
    ...(flags.apiKey === undefined ? {} : { apiKey: flags.apiKey }),
    ...(flags.baseUrl === undefined ? {} : { baseURL: flags.baseUrl }),
  });
  return flags.local === true ? markLocalClient(client) : client;
}

/**
 * The client flags for an existing job: its recorded provider unless --provider names the same one (another is
 * JOB_MISMATCH saying which was recorded), and its base URL: --base-url, else the recorded one (where its batches and
 * files live, so an ambient variable cannot send it elsewhere), else the provider's variable or default. A recorded
 * URL that is not the provider's default is named on stderr (the key goes there), as is a --base-url that differs.
 */
export async function jobClientFlags<F extends ClientFlags>(flags: F, io: CliIo, jobDir: string, store?: JobStore): Promise<F> {
  if (flags.provider !== undefined) providerFlag(flags.provider);
  // A job in the database recorded its provider there (`jobDir` is then its id).
  const recorded = await recordedProvider(store ?? resolve(io.cwd, jobDir));
  checkRecordedProvider(recorded.provider, flags.provider, jobDir);
  const provider = flags.provider ?? recorded.provider;
  if (recorded.baseURL === undefined) return { ...flags, ...(provider === undefined ? {} : { provider }) };
  if (flags.baseUrl === undefined && recorded.baseURL !== getProvider(provider).defaultBaseURL) {
    io.stderr.write(`note: using the base URL recorded in ${jobDir}: ${recorded.baseURL} (--base-url overrides it)\n`);
  }
  if (flags.baseUrl !== undefined && flags.baseUrl !== recorded.baseURL) {
    io.stderr.write(`warning: --base-url ${flags.baseUrl} is not the base URL recorded in ${jobDir} (${recorded.baseURL}), where its batches and files live\n`);
  }
  return { ...flags, ...(provider === undefined ? {} : { provider }), baseUrl: flags.baseUrl ?? recorded.baseURL };
}

/** Map job flags onto core job options (core validates them). */
export function jobOptionsFromFlags(flags: JobFlags): Omit<JobOptions, 'client'> {
  return {
    concurrency: flags.concurrency as number,
    ...(flags.window === undefined ? {} : { window: flags.window }),
    ...(flags.outputExpiresAfter === undefined ? {} : { outputExpiresAfter: flags.outputExpiresAfter }),
    ...(flags.pollInterval === undefined ? {} : { pollIntervalMs: parseDuration(flags.pollInterval, '--poll-interval') }),
    ...(flags.timeout === undefined ? {} : { timeoutMs: parseDuration(flags.timeout, '--timeout') }),
    ...(flags.resultFileGrace === undefined ? {} : { resultFileGraceMs: parseDuration(flags.resultFileGrace, '--result-file-grace') }),
    ...(flags.acceptMissingOutput ? { acceptMissingOutput: true } : {}),
    noResubmit: flags.resubmit === false,
    ...(flags.maxResubmits === undefined ? {} : { maxResubmits: flags.maxResubmits as number }),
    ...(flags.keepFiles ? { keepFiles: true } : {}),
    cancelOnInterrupt: flags.cancelOnInterrupt === true,
    ...(flags.maxEnqueuedTokens === undefined ? {} : { maxEnqueuedTokens: flags.maxEnqueuedTokens as number }),
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
 * A `--provider` value checked against the profiles.
 * @throws KbatchError OPTION_INVALID naming `--provider` and listing the names
 */
export function providerFlag(name: string): string {
  return getProvider(name, '--provider').name;
}
