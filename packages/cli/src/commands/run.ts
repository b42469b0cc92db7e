import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULT_AUTO_THRESHOLD, detachRun, KbatchError, estimateJob, formatModelsSummary, formatRunSummary, isModelsSummary, resumeRun, runJob, type JobOptions, type JobStore, type JoinIssue, type RunEvent, type RunJobOptions, type RunSummary } from '@kbatch/core';
import { addJobFlags, clientFromFlags, jobOptionsFromFlags, parseDuration, progressMode, providerFlag, type JobFlags } from '../flags/client-flags.js';
import { parseLabels } from '../flags/labels.js';
import { withInterrupt } from '../interrupt.js';
import { addChunkFlags, addEvalFlags, addInputFlags, addRequestFlags, chunkOptionsFromFlags, evalOptionsFromFlags, inputOptionsFromFlags, numberArg, requestOptionsFromFlags, withFlagNames } from '../flags/index.js';
import { CHUNK_FLAG_OPTIONS, INPUT_FLAG_OPTIONS, REQUEST_FLAG_OPTIONS, type ChunkFlags, type EvalFlags, type InputFlags, type RequestFlags } from '../flags/index.js';
import { createProgressReporter, type ProgressMode, type ProgressReporter } from '../progress/index.js';
import { realtimeProgress } from '../progress/realtime-progress.js';
import { EXIT, ExitError } from '../exit-error.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';
import { emulatorPersonality } from '../flags/emulator-provider.js';
import { addCacheFlags, cacheFromFlags, type CacheFlags } from '../flags/cache-flags.js';
import { printEstimate } from './estimate.js';
import { budgetShares, usd, type JobEstimate } from '@kbatch/core/internal';
import { addDatabaseFlags, databaseUrl, withCommandStore, type DatabaseFlags } from '../flags/database-flags.js';

interface RunFlags extends InputFlags, RequestFlags, Omit<ChunkFlags, 'prefix'>, JobFlags, CacheFlags, EvalFlags, DatabaseFlags {
  labels?: string;
  schema?: string;
  output?: string;
  outputFormat?: 'jsonl' | 'csv' | 'tsv' | 'json';
  retries?: number | string;
  prefix?: string;
  keepRaw?: boolean;
  local?: boolean;
  verbose?: boolean;
  mode?: 'batch' | 'realtime' | 'auto';
  autoThreshold?: number | string;
  rpm?: number | string;
  tpm?: number | string;
  requestRetries?: number | string;
  requestTimeout?: string;
  finishRealtime?: boolean;
  stragglerThreshold?: number | string;
  stragglerWait?: string;
  unordered?: boolean;
  maxCost?: number | string;
  prices?: string;
  dryRun?: boolean;
  json?: boolean;
  modelConcurrency?: number | string;
  detach?: boolean;
}

const RUN_FLAG_OPTIONS = [
  'labels',
  'schema',
  'output',
  'outputFormat',
  'retries',
  'prefix',
  'keepRaw',
  'window',
  'outputExpiresAfter',
  'concurrency',
  'jobDir',
  'mode',
  'autoThreshold',
  'rpm',
  'tpm',
  'requestRetries',
  'finishRealtime',
  'stragglerThreshold',
  'stragglerWait',
  'unordered',
  'gold',
  'modelConcurrency',
  'models',
  'prices',
];

/** `kbatch run`: dataset in, labeled dataset out — prepare, split, submit, wait, retry, join in one resumable command. */
export const register: RegisterCommand = (program, io) => {
  const cmd = program
    .command('run')
    .description('Dataset in, answers joined back out: prepare → split → submit → wait → retry failures → join, resumable')
    .argument('<input>', 'CSV/TSV/JSONL/JSON file, or - for stdin (saved into the job directory)');
  addRequestFlags(cmd, { severalModels: true });
  addInputFlags(cmd);
  addChunkFlags(cmd, { outDir: false, naming: false });
  addCacheFlags(cmd);
  addEvalFlags(cmd);
  addJobFlags(cmd, { create: true });
  addDatabaseFlags(cmd, { run: true, quota: true });
  cmd
    .option('--labels <list>', 'comma-separated labels: the prompt asks for one, each answer is parsed to one (adds `label`)')
    .option('--schema <file>', 'JSON Schema file: answers must be JSON matching it; its fields become columns')
    .option('--output <file>', 'output file (default: stdout)')
    .addOption(new Option('--output-format <format>', 'output format (default: from --output extension, else jsonl)').choices(['jsonl', 'csv', 'tsv', 'json']))
    .option('--retries <n>', 'follow-up batches for failed requests and invalid answers (default 2)', (v: string) => (Number.isFinite(Number(v)) && v.trim() !== '' ? Number(v) : v))
    .option('--prefix <prefix>', 'prefix for the added fields (e.g. kb_), needed when an input field has the same name')
    .option('--keep-raw', 'add the whole response body as `raw`')
    .addOption(
      new Option('--mode <mode>', `batch (Batch API), realtime (/v1/chat/completions), or auto: realtime below --auto-threshold requests (default batch)`).choices([
        'batch',
        'realtime',
        'auto',
      ]),
    )
    .addOption(new Option('--auto-threshold <n>', `request count from which --mode auto (and --finish-realtime) use batches (default ${DEFAULT_AUTO_THRESHOLD})`).argParser(numberArg))
    .addOption(new Option('--rpm <n>', 'realtime: requests per minute (your account limit; retries count)').argParser(numberArg))
    .addOption(new Option('--tpm <n>', 'realtime: estimated tokens per minute').argParser(numberArg))
    .addOption(new Option('--request-retries <n>', 'realtime: retries of one request on 429, 5xx, dropped connections, timeouts (default 5)').argParser(numberArg))
    .option('--request-timeout <duration>', 'realtime: timeout of one attempt (default 10m)')
    .option('--unordered', 'realtime: write each row as soon as its answer is final instead of in input order')
    .option('--finish-realtime', 'batch mode: finish stalled batches\' last few requests (stragglers) and retry rounds of fewer than --auto-threshold requests realtime')
    .addOption(
      new Option('--straggler-threshold <n>', 'with --finish-realtime: most requests a stalled batch may have left to be finished realtime (default: 1% of the batch, at least 1, capped by --auto-threshold)').argParser(
        numberArg,
      ),
    )
    .option('--straggler-wait <duration>', 'with --finish-realtime: time without progress before those requests count as stragglers (default 60s)')
    .addOption(new Option('--model-concurrency <n>', 'with several --model: how many models run at once (default 1, one after another)').argParser(numberArg))
    .option('--local', 'run against an in-process emulator (no account or API key needed; answers are rule-based)')
    .option('--verbose', 'list every missing, unknown and duplicate result on stderr')
    .addOption(new Option('--max-cost <usd>', 'batch runs: refuse before any upload when the worst-case cost is above this many US dollars').argParser(numberArg))
    .option('--prices <file>', 'a JSON file of price rows (as `kbatch providers --prices --json` prints them, each with its source and checked date), merged over kbatch\'s table: for --max-cost, the estimate and the spend')
    .option('--dry-run', 'only estimate (as kbatch estimate): requests, batches, tokens, cost; nothing is uploaded, sent or written')
    .option('--json', 'with --dry-run: print the estimate as one JSON object')
    .option('--detach', "with a database: prepare here (the input copied into --storage, bad input and --max-cost refused here), queue the job for kbatch worker, print its id and exit; the rows go to the job's output.<format> (kbatch results ID)")
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch run reviews.csv --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo \\
      --prompt 'Review: {{text}}' --labels positive,negative,neutral --output labeled.csv
  $ kbatch run reviews.csv --local --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo \\
      --prompt 'Review: {{text}}' --labels positive,negative,neutral --output-format csv
  $ jq -c '.[]' tickets.json | kbatch run - --model M --prompt '{{subject}}: {{body}}' --schema ticket.schema.json | jq .category
  $ kbatch run reviews.csv --mode realtime --concurrency 20 --rpm 30 --model M \\
      --prompt 'Review: {{text}}' --labels positive,negative,neutral --output labeled.csv

Modes: --mode realtime sends each request to /v1/chat/completions (--concurrency at a time, default 16;
--rpm/--tpm pacing; --request-retries per request) and joins exactly like batch mode; --mode auto picks
realtime below --auto-threshold requests (default ${DEFAULT_AUTO_THRESHOLD}). The mode is settled once and kept on resume.
Realtime rows are written as they finish: in input order, each row as soon as its answer is final (a row waiting
for its retry round holds back the rows after it); with --unordered each row as soon as its answer is final.
Memory is bounded by a chunk (--max-requests, default 1,000 in realtime mode).
In batch mode, --finish-realtime runs a retry round of fewer than --auto-threshold requests realtime, and
finishes stragglers: a running batch that has done some requests, has at most --straggler-threshold left and made
no progress for --straggler-wait is cancelled (its results so far are kept) and only its requests without a
result are sent realtime — whatever --retries is. --timeout bounds the whole run (batches and realtime): when it
is up, the run stops with AWAIT_TIMEOUT and keeps every answer received; kbatch resume DIR sends only the rest.

Rerun the same command (or: kbatch resume DIR) to continue after a crash or Ctrl-C: without --job-dir its job
directory is .kbatch/jobs/kb-<input name>-<hash of the input bytes and request options>, so the rerun finds it.
Added fields: custom_id, [label, confidence | schema fields], response, finish_reason, prompt_tokens,
completion_tokens, error, [raw]. --rejects FILE also receives every record that still failed (with --on-invalid
skip it defaults to OUTPUT-NAME.rejects.jsonl beside --output).
The summary goes to stderr. Exit code: 0 every record succeeded, 3 some failed, 1 the job could not run,
2 bad usage, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).`,
    )
    .action(async (input: string, flags: RunFlags) => {
      await runCommand(cmd, input, flags, io);
    });
};

/** `kbatch run` (and `kbatch estimate`, which is `kbatch run --dry-run`). */
export async function runCommand(cmd: Command, input: string, flags: RunFlags, io: CliIo): Promise<void> {
  const names = [...REQUEST_FLAG_OPTIONS, ...INPUT_FLAG_OPTIONS, ...CHUNK_FLAG_OPTIONS, ...RUN_FLAG_OPTIONS];
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  await withFlagNames(names, async () => {
    // A repeated --model runs every record on each model: the run's `models`, each model's fields under `ALIAS.`.
    const models = Array.isArray(flags.model) ? flags.model : null;
    const { model, ...rest } = await requestOptionsFromFlags({ ...flags, model: models ? models[0] : flags.model }, io);
    const request = models ? { ...rest, models, ...(flags.modelConcurrency !== undefined ? { modelConcurrency: flags.modelConcurrency as number } : {}) } : { ...rest, model };
    // With --on-invalid skip the input flags default the rejects file to rejects.jsonl; run writes failures there too.
    const { rejects, ...read } = inputOptionsFromFlags(input, flags, io);
    const { outDir: _outDir, ...chunks } = chunkOptionsFromFlags({ ...flags, prefix: undefined }, io);
    const options: Omit<RunJobOptions, 'client'> = {
      ...request,
      ...read,
      ...chunks,
      cwd: io.cwd,
      stdout: io.stdout,
      output: flags.output === undefined ? '-' : path(flags.output),
      ...(flags.outputFormat ? { outputFormat: flags.outputFormat } : {}),
      ...(flags.labels !== undefined ? { labels: parseLabels(flags.labels) } : {}),
      ...(flags.schema !== undefined ? { schema: path(flags.schema) } : {}),
      ...(flags.retries !== undefined ? { retries: flags.retries as number } : {}),
      ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
      ...(flags.keepRaw ? { keepRaw: true } : {}),
      ...(flags.rejects !== undefined ? { rejects: path(flags.rejects) } : rejects !== undefined ? { rejects: besideOutput(flags.output, rejects, path) } : {}),
      ...(flags.jobDir !== undefined ? { jobDir: path(flags.jobDir) } : {}),
      ...realtimeOptionsFromFlags(flags),
      ...(flags.maxCost !== undefined ? { maxCost: flags.maxCost as number } : {}),
      ...evalOptionsFromFlags(flags),
      ...(flags.prices !== undefined ? { prices: path(flags.prices) } : {}),
    };
    // Nothing is sent: no client (no API key needed), only the provider it would be.
    if (flags.dryRun) return printEstimates(io, flags, { ...options, ...windowGiven(cmd, flags), ...cacheFromFlags(flags, io), ...(flags.provider ? { provider: providerFlag(flags.provider) } : {}) });
    if (databaseUrl(flags, io) === undefined) {
      if (flags.detach) throw new KbatchError('OPTION_INVALID', 'Invalid option `--detach`: only with --database-url (or KBATCH_DATABASE_URL): workers on other machines take the job from the database', { field: '--detach' });
      return runAndReport(cmd, flags, io, (extra) => runJob({ ...options, ...extra }));
    }
    await withCommandStore(flags, io, undefined, async ({ store, jobId }) => {
      if (flags.detach) return detachCommand(cmd, flags, io, { ...options, store, databaseUrl: databaseUrl(flags, io)! });
      announceJob(io, flags, { jobId: jobId!, jobDir: store.dir });
      await runAndReport(cmd, flags, io, (extra) => runJob({ ...options, ...extra, store }));
    });
  });
}

/**
 * `kbatch run --detach`: prepare here, queue the job for workers, print its id on stdout (a hint on stderr). Nothing
 * is sent from here, so no API key is needed; the client only names the provider and endpoint the workers will use.
 */
async function detachCommand(cmd: Command, flags: RunFlags, io: CliIo, options: Omit<RunJobOptions, 'client'> & { store: JobStore; databaseUrl: string }): Promise<void> {
  for (const [flag, given] of [['--output', flags.output], ['--local', flags.local]] as const) {
    if (given !== undefined) throw new KbatchError('OPTION_INVALID', `Invalid option \`${flag}\`: not with --detach (the workers write the rows to the job's output.<format> in --storage; kbatch results ID prints them)`, { field: flag });
  }
  const { output: _output, rejects, ...rest } = options;
  // Stored with the run: the workers' uploads at a time and the completion window.
  const { concurrency, window } = jobOptionsGiven(cmd, flags) as { concurrency?: number; window?: string };
  const jobOptions = { ...(concurrency !== undefined ? { concurrency } : {}), ...(window !== undefined ? { window } : {}) };
  const client = clientFromFlags({ ...flags, apiKey: flags.apiKey ?? 'not-used-by-a-detached-run' }, io);
  const detached = await withInterrupt((signal) =>
    detachRun({ ...rest, ...jobOptions, ...(flags.rejects !== undefined ? { rejects: rejects! } : {}), ...cacheFromFlags(flags, io), client, signal }),
  );
  io.stdout.write(`${detached.jobId}\n`);
  const ref = `${detached.jobId} --storage ${dirname(detached.jobDir)}`;
  io.stderr.write(
    `job ${detached.jobId} prepared: ${detached.records} records, ${detached.requests} requests in ${detached.chunks} chunks; ${detached.enqueued ? 'queued for' : 'already queued for'} kbatch worker\n` +
      `watch it with: kbatch status ${ref}; kbatch wait ${ref}; then kbatch results ${ref}\n`,
  );
}

/** A job in the database is continued by its id: named on stderr first (the first event with --progress json). */
function announceJob(io: CliIo, flags: RunFlags, job: { jobId: string; jobDir: string }): void {
  if (progressMode(flags) === 'json') io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'job-id', ...job })}\n`);
  else io.stderr.write(`job ${job.jobId} (state in the database, files in ${job.jobDir}); continue it with: kbatch resume ${job.jobId} --storage ${dirname(job.jobDir)}\n`);
}

/** A dry run: the estimate, or with several models each model's (one JSON object each with --json) and their total. */
async function printEstimates(io: CliIo, flags: RunFlags, options: Omit<RunJobOptions, 'client'>): Promise<void> {
  const { models, modelConcurrency: _width, ...one } = options;
  if (models === undefined) return printEstimate(io, flags, await estimateJob(one), options.maxCost);
  const estimates: JobEstimate[] = [];
  for (const model of models) {
    estimates.push(await estimateJob({ ...one, model }));
    printEstimate(io, flags, estimates[estimates.length - 1]!);
  }
  const sum = (pick: (e: JobEstimate) => number | null): string => (estimates.some((e) => pick(e) === null) ? 'unknown' : usd(estimates.reduce((n, e) => n + pick(e)!, 0)));
  if (!flags.json) io.stdout.write(`total of ${models.length} models: ${estimates.reduce((n, e) => n + e.requests, 0)} requests, ${sum((e) => e.cost.expected)} expected, ${sum((e) => e.cost.worst_case)} worst case\n`);
  // As the run would refuse it: the models' worst cases together against the cap.
  if (options.maxCost !== undefined) budgetShares(estimates, options.maxCost);
}

/** The default rejects file: `out.csv` → `out.rejects.jsonl` beside the output; with stdout output, `rejects.jsonl` in the current directory. */
function besideOutput(output: string | undefined, fallback: string, path: (p: string) => string): string {
  if (output === undefined || output === '-') return fallback;
  const file = path(output);
  return join(dirname(file), `${basename(file, extname(file))}.rejects.jsonl`);
}

/**
 * Continue a `kbatch run` job from `kbatch resume DIR` (C's resume command calls this when `isRunJob(dir)`):
 * same progress, summary and exit codes as `kbatch run`; outputs go where the run first sent them
 * (stdout when it had no --output). `job` is the job directory, or the store of a job in the database.
 */
export async function resumeRunCommand(cmd: Command, job: string | JobStore, flags: JobFlags & { prices?: string }, io: CliIo): Promise<void> {
  const store = typeof job === 'string' ? undefined : job;
  const prices = flags.prices !== undefined ? { prices: resolve(io.cwd, flags.prices) } : {};
  await runAndReport(cmd, flags, io, (extra) => resumeRun(store?.dir ?? resolve(io.cwd, job as string), { cwd: io.cwd, stdout: io.stdout, ...prices, ...extra, ...(store ? { store } : {}) }));
}

/** The realtime flags as core options (only those given, so a rerun keeps the stored ones). */
function realtimeOptionsFromFlags(flags: RunFlags): Partial<RunJobOptions> {
  return {
    ...(flags.mode !== undefined ? { mode: flags.mode } : {}),
    ...(flags.autoThreshold !== undefined ? { autoThreshold: flags.autoThreshold as number } : {}),
    ...(flags.rpm !== undefined ? { rpm: flags.rpm as number } : {}),
    ...(flags.tpm !== undefined ? { tpm: flags.tpm as number } : {}),
    ...(flags.requestRetries !== undefined ? { requestRetries: flags.requestRetries as number } : {}),
    ...(flags.requestTimeout !== undefined ? { requestTimeoutMs: parseDuration(flags.requestTimeout, '--request-timeout') } : {}),
    ...(flags.finishRealtime ? { finishRealtime: true } : {}),
    ...(flags.stragglerThreshold !== undefined ? { stragglerThreshold: flags.stragglerThreshold as number } : {}),
    ...(flags.stragglerWait !== undefined ? { stragglerWaitMs: parseDuration(flags.stragglerWait, '--straggler-wait') } : {}),
    ...(flags.unordered ? { unordered: true } : {}),
  };
}

type RunExtra = Pick<RunJobOptions, 'client' | 'signal' | 'cache' | 'onProgress' | 'onIssue' | 'onWarning' | 'concurrency' | 'pollIntervalMs' | 'resultFileGraceMs' | 'acceptMissingOutput' | 'timeoutMs' | 'noResubmit' | 'maxResubmits' | 'keepFiles' | 'cancelOnInterrupt' | 'outputExpiresAfter' | 'maxEnqueuedTokens'> & { window?: string };
type RunCommandFlags = JobFlags & CacheFlags & { local?: boolean; verbose?: boolean };

/**
 * Run (or resume) a run job as the CLI does: client from flags (or an in-process emulator with --local), progress
 * and warnings on stderr, Ctrl-C → a resumable stop, the summary on stderr, exit 3 when records failed.
 */
async function runAndReport(cmd: Command, flags: RunCommandFlags, io: CliIo, run: (extra: RunExtra) => Promise<RunSummary>): Promise<void> {
  const jobOptions = jobOptionsGiven(cmd, flags);
  // Loaded only for --local: a run against a server never needs the emulator's modules.
  const emulator = flags.local ? await (await import('@kbatch/emulator')).startEmulator({ ...emulatorPersonality(flags.provider), timeScale: 0.001, validationMs: 10, lineMs: 0, finalizingMs: 10 }) : undefined;
  const clientFlags = emulator ? { ...flags, apiKey: 'local-emulator', baseUrl: emulator.baseURL } : flags;
  if (emulator && cmd.getOptionValueSource('pollInterval') === 'default') jobOptions.pollIntervalMs = 100;
  const mode = progressMode(flags);
  const progress = createProgressReporter({ stream: io.stderr, mode });
  let summary: RunSummary;
  try {
    const client = clientFromFlags(clientFlags, io);
    summary = await withInterrupt((signal) =>
      run({
        ...jobOptions,
        client,
        signal,
        ...cacheFromFlags(flags, io),
        onProgress: progressHandler(progress, realtimeProgress(io.stderr, mode), mode),
        onWarning: (message) => progress.log(`warning: ${message}`),
        ...(flags.verbose ? { onIssue: (issue: JoinIssue) => progress.log(`${issue.code}: ${issue.message}`) } : {}),
      }),
    );
  } finally {
    progress.done();
    await emulator?.close();
  }
  printSummary(io, flags, mode, summary);
}

/** The window the user set, if any (an estimate prices the job for it). */
function windowGiven(cmd: Command, flags: RunCommandFlags): { window?: string } {
  const { window } = jobOptionsGiven(cmd, flags);
  return window === undefined ? {} : { window };
}

/** The job flags as run options: only those the user set where the core's default depends on the run. */
function jobOptionsGiven(cmd: Command, flags: RunCommandFlags): Omit<JobOptions, 'client'> {
  const { concurrency, window, ...jobOptions } = jobOptionsFromFlags(flags);
  // Unset, the core picks the default of the mode: 4 uploads at a time, or 16 realtime requests.
  if (cmd.getOptionValueSource('concurrency') !== 'default') Object.assign(jobOptions, { concurrency });
  // Unset, a new run uses 24h and a rerun keeps its stored window (a given one may replace it until a batch exists).
  if (window !== undefined && cmd.getOptionValueSource('window') !== 'default') Object.assign(jobOptions, { window });
  return jobOptions;
}

/** Run events to the progress display: realtime events to their own line, straggler notes as log lines. */
function progressHandler(progress: ProgressReporter, realtime: (event: Extract<RunEvent, { type: 'realtime' }>) => void, mode: ProgressMode): (event: RunEvent) => void {
  return (event) => {
    if (event.type === 'realtime') return realtime(event);
    if (event.type === 'stragglers' && mode !== 'json') {
      if (mode !== 'none') progress.log(event.message);
      return;
    }
    progress.onEvent(event);
  };
}

/** The summary on stderr (one JSON line with --progress json); exit 3 when records failed. */
function printSummary(io: CliIo, flags: RunCommandFlags, mode: ProgressMode, summary: RunSummary): void {
  // --quiet keeps the summary when records failed (exit 3 must not come with nothing to say).
  if (mode === 'json') io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'summary', ...summary })}\n`);
  else if (!flags.quiet || summary.failed > 0) io.stderr.write(isModelsSummary(summary) ? formatModelsSummary(summary) : formatRunSummary(summary));
  if (summary.failed > 0) throw new ExitError(EXIT.partial, `${summary.failed} of ${summary.records} records did not succeed`);
}
