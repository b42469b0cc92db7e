import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KbatchError, isKbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { jobProvider } from '../providers/job-provider.js';
import { cancelKeepsAnswers } from '../providers/provider-profile.js';
import { DEFAULT_PROVIDER, getProvider } from '../providers/resolve-provider.js';
import { jobPath } from '../job/create-job.js';
import type { JobLock } from '../state/lock.js';
import type { JobManifest } from '../state/manifest.js';
import { directoryStore, type JobStore } from '../state/job-store.js';
import type { JobOptions } from '../job/batch-job.js';
import { crashPoint, hasPausePoint, pausePoint } from '../job/crash-point.js';
import { createJoinPlan, type JoinPlan } from '../join/join-plan.js';
import { chooseMode, DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import { realtimeAnswersLog } from '../realtime/run-realtime-job.js';
import { createLiveResults, createResultQueue, createRoundResults, type LiveResults, type ResultQueue } from './live-results.js';
import { orderedJoinBatches } from '../join/ordered-join.js';
import { unorderedJoin } from '../join/unordered-join.js';
import type { LiveChunkResults } from '../join/live-chunks.js';
import { readRejects, type JoinedRow } from '../join/skipped-rows.js';
import type { JoinOutcome } from '../join/join-record.js';
import { attemptChunk, attemptChunks } from '../job/attempt-chunks.js';
import { recordBatches } from '../records/record-batches.js';
import type { SourceRecord } from '../records/source-record.js';
import { prepareRun, withInputColumns } from './prepare-run.js';
import { assertQuotaStore, quotaLimitApplies } from '../quota/open-job-quota.js';
import { realtimeRunner, REALTIME_MAX_REQUESTS } from './realtime-runner.js';
import { RunJobOptionsSchema, type ResolvedRunJobOptions, type RunEvent, type RunJobOptions, type RunRecordRow, type RunSummary } from './run-options.js';
import { hasRunState, type RunSettings, type RunState } from '../state/run-state.js';
import { checkInputUnchanged, fingerprintFile } from './input-fingerprint.js';
import { isJobDir, removeStaleJobTemps, removeStaleOutputTemps } from '../internal/stale-temps.js';
import { makeDir } from '../internal/make-dir.js';
import { deriveJobDir, dropStagedInput, type DerivedJob } from './run-identity.js';
import { openRun } from './open-run.js';
import { checkSinkTargets, openSinks, sinkTargets, type Sinks } from './run-sinks.js';
import { givenSinkTargets, readTemplate, resolveSchema } from './run-settings.js';
import { chunkGate, isFinalResult, PREPARE_REJECTS_FILE, runPhases, type ChunkGate } from './run-phases.js';
import { summarize, type RunJoinReport } from './run-summary.js';
import { lineJudge } from './failure-cause.js';
import { runDeadline } from './run-deadline.js';
import { cacheDir } from '../cache/cache-dir.js';
import { keepAnswers, readCachedResults } from '../cache/cached-answers.js';
import { CACHED_RESULTS_FILE } from '../cache/divert-cached.js';
import { runCache, type RunCache } from '../cache/run-cache.js';
import { nothingSent } from './run-settings.js';
import { checkBudget, dryRunSummary, estimateJob, type JobEstimate } from '../cost/estimate-job.js';
import { estimatePrepared } from '../cost/estimate-prepared.js';
import { loadPrices } from '../cost/price-file.js';
import { priceTable, type PriceRow, type PriceTable } from '../cost/prices.js';
import type { PriceOf } from '../cost/spend-types.js';
import type { AnswerSchema } from '../answers/answer-schema.js';
import { SPEND_FILE, UsageTally } from '../cost/spend.js';
import { writeJsonAtomic } from '../internal/write-json-atomic.js';
import { sampleFilter } from '../records/sample-records.js';
import { runSample, sampleSummary } from './run-sample.js';
import { checkGoldColumn, costPerCorrect, EVAL_FILE, goldInTemplate, runEvaluation, type RunEvaluation } from '../eval/run-evaluation.js';
import { runModels } from '../models/run-models.js';
import { isModelsJob, readModelsState } from '../models/models-state.js';

export { REALTIME_MAX_REQUESTS } from './realtime-runner.js';
export { formatRunSummary } from './run-summary.js';

/**
 * The whole pipeline in one resumable call: (spool stdin/records into the job directory) → prepare →
 * split into chunk files → batches (upload, create, wait, download, resubmit expired leftovers) → retry
 * what failed (error lines, non-2xx, answers the labels/schema reject) in follow-up parts of the same job,
 * up to `retries` rounds, the last attempt winning → join chunk by chunk in input order → output + rejects.
 * Every phase is recorded in `<jobDir>/run.json` (atomic writes, no API key), so calling it again with the
 * same `jobDir` — or {@link resumeRun} — continues instead of starting over.
 * @returns the summary; records that still failed are counted in `failed` (the CLI exits 3 for them)
 * @example
 * const summary = await runJob({ input: 'reviews.csv', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
 *   prompt: 'Review: {{text}}', labels: ['positive', 'negative', 'neutral'], output: 'labeled.csv',
 *   client: createKlusterClient() });
 */
export async function runJob(options: RunJobOptions): Promise<RunSummary> {
  const run = runPipeline(options, false);
  for (;;) {
    const next = await run.next();
    if (next.done) return next.value as RunSummary;
  }
}

/**
 * True when `jobDir` holds a job made by `runJob`/`kbatch run` (so `kbatch resume` should continue the whole run).
 * @example if (await isRunJob(dir)) await resumeRun(dir, { client }); else await resumeJob(dir, { client });
 */
export async function isRunJob(jobDir: string): Promise<boolean> {
  // A several-model run's parent job is one too (resumeRun continues each model's sub-job).
  return (await hasRunState(jobDir)) || (await isModelsJob(jobDir));
}

/**
 * Options of {@link resumeRun}: the client and job options; output options override the stored ones. A run started
 * with a zod `schema` should be given it again (only its JSON Schema is stored; without it `onWarning` is told).
 */
export type ResumeRunOptions = Omit<RunJobOptions, 'input' | 'jobDir'>;

/**
 * Continue a run job (one made by {@link runJob} / `kbatch run`) from its job directory alone, with the
 * options it was started with (`kbatch resume DIR` calls this when {@link isRunJob} says so).
 * @example await resumeRun('.kbatch/jobs/kb-…', { client: createKlusterClient() });
 */
export async function resumeRun(jobDir: string, options: ResumeRunOptions): Promise<RunSummary> {
  const dir = resolve(options.cwd ?? process.cwd(), jobDir);
  // A several-model job: its models come from its models.json, each sub-job continues from its own run.json.
  const parent = options.store ? null : await readModelsState(dir);
  if (parent !== null) return runJob({ ...parent.options, ...options, models: parent.models.map((m) => m.model), jobDir });
  if ((await (options.store ?? directoryStore(dir)).readRunState()) === null) {
    throw new KbatchError('JOB_NOT_FOUND', `No kbatch run in ${jobDir} (run.json is missing); for a batch-only job use resumeJob`, { file: jobDir });
  }
  return runJob({ ...options, jobDir });
}

/**
 * Streaming library form: records in (an async iterable or object-mode stream of plain objects, or a
 * path/stream of bytes), joined records out in input order; the generator's return value is the summary.
 * Nothing is written unless `output`/`rejects` are given. Resumable like {@link runJob} (pass `jobDir`).
 * With a zod `schema`, rows are typed by it ({@link RunRecordRow}: its fields, prefixed, null when the answer failed).
 * @example
 * for await (const row of runRecords({ input: tickets, model, prompt: '{{text}}', schema, client })) console.log(row.category);
 */
export function runRecords<S extends RunJobOptions['schema'] = undefined, P extends string = ''>(
  options: RunJobOptions & { schema?: S; prefix?: P },
): AsyncGenerator<RunRecordRow<S, P>, RunSummary, undefined> {
  // The rows are the join's records; their schema fields are what the schema's parse produced (or null).
  return runPipeline(options, true) as AsyncGenerator<RunRecordRow<S, P>, RunSummary, undefined>;
}

/**
 * The pipeline; with `detach` it stops once the job is prepared and its budget checked (nothing uploaded) and returns
 * what was prepared, for workers to continue (see `detachRun`).
 */
export async function* runPipeline(given: RunJobOptions, emitRows: boolean, detach = false): AsyncGenerator<Record<string, unknown>, RunSummary | PreparedRun, undefined> {
  const started = Date.now();
  const named = parseOptions(RunJobOptionsSchema, given, emitRows ? 'runRecords' : 'runJob');
  // Before anything is written: the provider's window, and its batch API when this new run is a batch run.
  jobProvider(named, { batches: (given.mode ?? (given.input === undefined ? null : 'batch')) === 'batch' });
  // Before anything is prepared or saved: a job directory could never start its batches with a quota limit.
  assertQuotaStore(named.store, named.maxEnqueuedTokens);
  if (named.models !== undefined && named.models.length > 1) {
    // Each model is a run of this same pipeline (a sub-job); the gold column, when the run has one, is evaluated per model.
    if (named.store !== undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `models`: several models in one job are kept in a job directory, not yet in a database (run each model as its own job)', { field: 'models' });
    return yield* runModels(given, named, { runOne: runJob, emitRows, started, ...(named.gold !== undefined ? { gold: named.gold } : {}) });
  }
  // One model given as a list is a plain run of that model.
  const options = named.models === undefined ? given : { ...given, models: undefined, model: named.models[0]! };
  const parsed = named.models === undefined ? named : parseOptions(RunJobOptionsSchema, options, emitRows ? 'runRecords' : 'runJob');
  // A dry run only estimates: nothing is uploaded, sent or written (not even a job directory).
  if (parsed.dryRun === true) {
    const estimate = await estimateJob(options);
    if (parsed.maxCost !== undefined && estimate.mode === 'batch') checkBudget(estimate, parsed.maxCost);
    return dryRunSummary(estimate, started);
  }
  const cwd = parsed.cwd ?? process.cwd();
  const read = await readTemplate(parsed, cwd);
  // Read (and checked) before anything is written; kept in the run's settings so a resume prices it the same.
  const givenPrices = read.prices === undefined ? undefined : await loadPrices(read.prices, cwd);
  const opts: ResolvedRunJobOptions = { ...read };
  let resumed = false;
  const emit = (event: RunEvent): void => {
    try {
      // The job is driven phase by phase, so every drive looks like a resume to it; only a rerun is one.
      opts.onProgress?.(event.type === 'job' ? { ...event, resumed } : event);
    } catch {
      // A failing progress renderer must not break the run.
    }
  };
  const notify = (message: string): void => emit({ type: 'phase', phase: 'output', message });
  // A given store names the job directory (its files); otherwise the directory is located and holds the state too.
  const { jobDir, derived } = await locateJob(opts.store ? { ...opts, jobDir: opts.store.dir } : opts, cwd, emit, notify);
  if (await isModelsJob(jobDir)) throw new KbatchError('JOB_MISMATCH', `${jobDir} runs several models (models.json): give the same models, or another job directory`, { file: jobDir });
  const store = opts.store ?? directoryStore(jobDir);
  const { lock, wasJob } = await lockJob(store, derived);
  const cache = runCache(cacheDir(opts.cache, { cwd }), opts.onWarning);
  try {
    if (wasJob) await removeStaleJobTemps(jobDir);
    const opened = await openRun(options, opts, { jobDir, store, cwd, emit, located: derived?.input ?? null });
    const { state, schema } = opened;
    resumed = opened.resumed;
    const settings = state.settings;
    const prices = await runPrices(store, state, { given: givenPrices, priceOf: read.priceOf });
    opts.priceOf = prices.priceOf;
    if (settings.gold !== undefined) await checkGold(settings, opts.onWarning);
    // Drawn (or read back) before anything is estimated or prepared: every read of the input takes the same records.
    const sample = settings.sample !== undefined ? await runSample(jobDir, settings, opts.signal) : null;
    const keep = sample !== null ? sampleFilter(sample) : undefined;
    // Before anything is prepared or sent: a bad --output/--rejects must not surface after the batches ran.
    const targets = sinkTargets(opts, settings, jobDir, emitRows);
    await checkSinkTargets(targets, { input: settings.spooled ? null : settings.input, jobDir, notify });
    for (const target of [targets.output, targets.rejects]) if (typeof target === 'string' && target !== '-') await removeStaleOutputTemps(target);
    const plan = runJoinPlan(settings, schema);
    const run: RunContext = { jobDir, store, state, plan, opts, emit, cache, ...(keep ? { keep } : {}) };
    await prepareOnce(run);
    const estimate = await checkRunBudget(run, { schema, prices });
    if (detach) return preparedRun(state, jobDir, estimate);
    const empty = state.recordsRead === 0;
    if (empty) opts.onWarning?.(`${typeof options.input === 'string' && options.input !== '-' ? options.input : settings.spooled ? 'the input' : settings.input} has 0 records; nothing to do`);
    const sending = startSending(run, options);
    await sending.ready;
    const manifest = state.chunks.length > 0 ? await store.readManifest() : null;
    // Results are matched to records by position within each chunk: the input must be the one prepared.
    if (settings.inputFingerprint) await checkInputUnchanged(settings.input, settings.inputFingerprint);
    emit({ type: 'phase', phase: 'join', message: sending.gate ? 'writing results as they finish' : 'joining results onto the input records' });
    const rows = joinedRows(run, manifest, sending);
    const sinks = openSinks(targets, opts, settings, empty ? await withInputColumns(plan, settings) : plan);
    const evaluation = settings.gold !== undefined ? runEvaluation({ gold: settings.gold, prefix: settings.prefix, ...(settings.labels ? { labels: settings.labels } : {}) }) : null;
    const report = yield* writeRows(run, { rows, sinks, sending, emitRows, evaluation });
    await sending.work;
    return await finishRun(run, { manifest, report, started, resumed, outputs: sinks.outputs, estimate, sample, evaluation });
  } finally {
    await cache.close();
    await lock.release();
  }
}

/** A run prepared (chunks written, budget checked) and left for workers: what it holds. */
export interface PreparedRun {
  jobDir: string;
  records: number;
  skipped: number;
  requests: number;
  chunks: number;
  mode: 'batch' | 'realtime';
  /** With `maxCost`: the estimate the budget was checked against. */
  estimate?: JobEstimate;
}

function preparedRun(state: RunState, jobDir: string, estimate: JobEstimate | undefined): PreparedRun {
  const requests = state.chunks.reduce((n, c) => n + c.requests, 0);
  return { jobDir, records: state.recordsRead, skipped: state.skipped, requests, chunks: state.chunks.length, mode: state.mode ?? 'batch', ...(estimate ? { estimate } : {}) };
}

/** The join plan of a run's stored settings (its labels or schema, confidence, id column, prefix, raw answers). */
function runJoinPlan(settings: RunSettings, schema: AnswerSchema | undefined): JoinPlan {
  return createJoinPlan({
    ...(settings.labels ? { labels: settings.labels } : {}),
    ...(schema ? { schema } : {}),
    confidence: settings.confidence,
    ...(typeof settings.request.idColumn === 'string' ? { idColumn: settings.request.idColumn } : {}),
    prefix: settings.prefix,
    keepRaw: settings.keepRaw,
  });
}

/** What the end of a run sums up besides its context. */
interface RunEnd {
  manifest: JobManifest | null;
  report: RunJoinReport;
  started: number;
  resumed: boolean;
  outputs: RunSummary['outputs'];
  estimate: JobEstimate | undefined;
  sample: Awaited<ReturnType<typeof runSample>> | null;
  evaluation: RunEvaluation | null;
}

/** Record the run as joined and sum it up: the summary (with its estimate, sample and evaluation) and spend.json. */
async function finishRun({ jobDir, store, state, opts, emit }: RunContext, end: RunEnd): Promise<RunSummary> {
  state.phase = 'joined';
  await store.writeRunState(state);
  const summary = summarize(state, end.manifest, end.report, { jobDir, started: end.started, resumed: end.resumed, outputs: end.outputs, ...(opts.priceOf ? { priceOf: opts.priceOf } : {}) });
  if (end.estimate !== undefined) summary.estimate = end.estimate;
  if (end.sample !== null) summary.sample = sampleSummary(end.sample);
  // Beside run.json, not in it: a report rewritten by every call, never read back to resume.
  await writeJsonAtomic(join(jobDir, SPEND_FILE), summary.spend);
  if (end.evaluation !== null) await addEvaluation(summary, end.evaluation, opts.onWarning);
  emit({ type: 'phase', phase: 'done', message: `${summary.succeeded}/${summary.records} records succeeded` });
  return summary;
}

/** With `gold`: the input must have the column (before anything is sent), and a template that shows it to the model is said. */
async function checkGold(settings: RunState['settings'], onWarning: ((message: string) => void) | undefined): Promise<void> {
  const gold = settings.gold!;
  const read = { input: settings.input, format: settings.format, ...(settings.delimiter ? { delimiter: settings.delimiter } : {}), ...(settings.encoding ? { encoding: settings.encoding } : {}) };
  await checkGoldColumn(read, gold);
  if (goldInTemplate([settings.request.prompt, settings.request.system], gold)) onWarning?.(`the prompt uses the gold column "${gold}": the model sees the answer it is evaluated against`);
}

/** The evaluation into the summary and `<jobDir>/eval.json`; one that failed (too many labels) is a warning, never a failed run. */
async function addEvaluation(summary: RunSummary, evaluation: RunEvaluation, onWarning: ((message: string) => void) | undefined): Promise<void> {
  try {
    summary.eval = evaluation.result();
  } catch (err) {
    onWarning?.(`no evaluation against gold: ${(err as Error).message}`);
    return;
  }
  summary.costPerCorrect = costPerCorrect(summary.spend, summary.eval);
  await writeJsonAtomic(join(summary.jobDir, EVAL_FILE), { ...summary.eval, cost_per_correct: summary.costPerCorrect });
}

/**
 * The run's price table (for the budget, the realtime guard and the spend): the user's rows given now (then stored in
 * the run's settings) or those stored when the run was given them, merged over kbatch's; a `priceOf` answers instead.
 */
async function runPrices(store: JobStore, state: RunState, user: { given: PriceRow[] | undefined; priceOf: PriceOf | undefined }): Promise<PriceTable> {
  if (user.given !== undefined) {
    state.settings.prices = user.given;
    await store.writeRunState(state);
  }
  const table = priceTable(state.settings.prices ?? []);
  return user.priceOf ? { ...table, priceOf: user.priceOf } : table;
}

/**
 * `maxCost`, checked from the prepared job while nothing was sent: its chunk files are the requests to send (the cached
 * ones were diverted as it was prepared) in its settled mode. Batch runs only; realtime runs stop as they spend.
 * @returns the estimate (the summary carries it), undefined without `maxCost` or once something was sent
 * @throws KbatchError BUDGET_EXCEEDED, COST_UNKNOWN (before anything is uploaded)
 */
async function checkRunBudget({ jobDir, store, state, opts }: RunContext, at: { schema: AnswerSchema | undefined; prices: PriceTable }): Promise<JobEstimate | undefined> {
  if (opts.maxCost === undefined || !(await nothingSent(store, state))) return undefined;
  const parts = state.chunks.length > 0 ? (await store.readManifest()).parts : [];
  const files = state.chunks.map((c) => jobPath(jobDir, parts.find((p) => p.index === c.part)!.path));
  const estimate = await estimatePrepared(state, files, { schema: at.schema, signal: opts.signal, prices: at.prices });
  if (estimate.mode === 'batch') checkBudget(estimate, opts.maxCost);
  return estimate;
}

export { SPEND_FILE };

/** What the phases of one call share. */
interface RunContext {
  /** The request cache (opened when first used). */
  cache: RunCache;
  jobDir: string;
  /** Where the run's state (run.json, the job's manifest, its locks) is read and written. */
  store: JobStore;
  state: RunState;
  plan: JoinPlan;
  opts: ResolvedRunJobOptions;
  emit: (event: RunEvent) => void;
  /** With a sample: the record numbers it takes (every read of the input skips the others). */
  keep?: (record: number) => boolean;
}

/** The run's job directory: the given one, or the derived one (its input located, a stream saved to a staging dir). */
async function locateJob(opts: ResolvedRunJobOptions, cwd: string, emit: (e: RunEvent) => void, notify: (message: string) => void): Promise<{ jobDir: string; derived: DerivedJob | null }> {
  // Checked once before the job directory is made or stdin is read (a bad --output must not wait for the whole
  // input), and once more for the targets the run will write (stored ones on a resume).
  const givenInput = typeof opts.input === 'string' && opts.input !== '-' ? resolve(cwd, opts.input) : null;
  await checkSinkTargets(givenSinkTargets(opts, cwd), { input: givenInput, ...(opts.jobDir !== undefined ? { jobDir: resolve(cwd, opts.jobDir) } : {}), notify });
  // Without a job directory, the run's own: the same command (same input bytes and request options) finds it again.
  const derived = opts.jobDir === undefined ? await deriveJobDir(opts, cwd, await resolveSchema(opts, null, cwd), emit) : null;
  return { jobDir: derived?.jobDir ?? resolve(cwd, opts.jobDir!), derived };
}

/** Make the job directory and take its lock (a staged input is dropped if that fails). */
async function lockJob(store: JobStore, derived: DerivedJob | null): Promise<{ lock: JobLock; wasJob: boolean }> {
  const jobDir = store.dir;
  // Asked before the lock exists: only a directory that already was a job is swept for stale temp files.
  // A job in the database has no state file in its directory: its run state there says the directory is the job's.
  const wasJob = (await isJobDir(jobDir)) || (store.jobId !== undefined && (await store.readRunState()) !== null);
  try {
    await makeDir(join(jobDir, 'run'), 'job directory');
    return { lock: await store.lock('run'), wasJob };
  } catch (err) {
    if (derived?.input.spooled) await dropStagedInput(derived.input);
    throw err;
  }
}

/** Prepare the requests (once per run) and settle the mode (once, before anything is sent). */
async function prepareOnce({ jobDir, store, state, plan, opts, emit, cache, keep }: RunContext): Promise<void> {
  const settings = state.settings;
  try {
    if (state.phase === 'init') {
      emit({ type: 'phase', phase: 'prepare', message: `preparing requests from ${settings.input}` });
      // A file is hashed as prepare reads it; on its own only when prepare did not read it all (a reused manifest).
      const answers = await cache.answers();
      const cached = answers ? { answers, provider: settings.provider ?? DEFAULT_PROVIDER } : null;
      const countTokens = await quotaLimitApplies({ store, client: opts.client, provider: settings.provider, maxEnqueuedTokens: settings.maxEnqueuedTokens });
      const { fingerprint: read, ...prepared } = await prepareRun(store, settings, plan, { ...(opts.signal ? { signal: opts.signal } : {}), cache: cached, countTokens, ...(keep ? { keep } : {}) });
      const fingerprint = settings.inputFingerprint ?? read ?? (await fingerprintFile(settings.input));
      crashPoint('run-after-prepare');
      Object.assign(state, prepared, { phase: 'prepared' });
      settings.inputFingerprint = fingerprint;
      await store.writeRunState(state);
    }
    if (state.mode === undefined) {
      // Settled once, before anything is sent; a run.json from before modes existed is a batch run.
      const requests = state.chunks.reduce((n, c) => n + c.requests, 0);
      state.mode = state.phase === 'prepared' ? chooseMode({ mode: settings.mode, requests, autoThreshold: settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD, provider: settings.provider }) : 'batch';
      await store.writeRunState(state);
    }
  } catch (err) {
    throw interrupted(err, opts.signal, jobDir);
  }
}

/** The sending phases, started: `work` settles when they are done; with a gate, the join runs alongside them. */
interface Sending {
  work: Promise<void>;
  gate: ChunkGate | null;
  live: LiveResults | null;
  queue: ResultQueue | null;
  /** Stops what runs behind a streaming join when the join ends first (error, or a consumer that stopped reading). */
  stop: AbortController;
}

/** Start the batches, realtime requests, straggler and retry rounds (awaited here unless results stream through a gate). */
function startSending({ jobDir, store, state, plan, opts, emit }: RunContext, options: RunJobOptions): Sending & { ready: Promise<void> } {
  const settings = state.settings;
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const jobOptions: JobOptions = {
    client: opts.client,
    window: settings.window,
    ...(settings.provider !== undefined ? { provider: settings.provider } : {}),
    ...(settings.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
    // A local run saved with one (by an older kbatch) stays resumable: the quota lives only in a database.
    ...(settings.maxEnqueuedTokens !== undefined && store.jobId !== undefined ? { maxEnqueuedTokens: settings.maxEnqueuedTokens } : {}),
    pollIntervalMs: opts.pollIntervalMs,
    resultFileGraceMs: opts.resultFileGraceMs,
    acceptMissingOutput: opts.acceptMissingOutput,
    noResubmit: opts.noResubmit,
    maxResubmits: opts.maxResubmits,
    keepFiles: opts.keepFiles,
    cancelOnInterrupt: opts.cancelOnInterrupt,
    retryBaseMs: opts.retryBaseMs,
    // Each result judged as it downloads: retry planning then reads no results of a part that needs nothing resent.
    judge: lineJudge(plan),
    onProgress: emit,
    signal,
    store,
  };
  // `timeoutMs` bounds every sending phase of this call together (batches, realtime, straggler and retry rounds),
  // counted from here: preparing a large input does not eat into it.
  const deadline = runDeadline(jobDir, opts.timeoutMs);
  const realtime = realtimeRunner({ jobDir, settings, given: options, opts, emit, signal, deadline });
  // Stragglers are cancelled only where a cancelled batch keeps its answers (not known on Gemini: off there).
  if (state.mode === 'batch' && settings.finishRealtime && cancelKeepsAnswers(getProvider(settings.provider ?? DEFAULT_PROVIDER))) {
    jobOptions.stragglers = {
      maxThreshold: settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD,
      ...(settings.stragglerThreshold !== undefined ? { threshold: settings.stragglerThreshold } : {}),
      ...(settings.stragglerWaitMs !== undefined ? { waitMs: settings.stragglerWaitMs } : {}),
    };
  }
  // Realtime results are written as they finish: each chunk is joined as soon as its answers are final
  // (in chunk order; only the list of finished chunks is held), while later chunks are still being sent.
  const gate = state.chunks.length > 0 && state.mode === 'realtime' && state.phase === 'prepared' ? chunkGate(state.chunks.length) : null;
  const isFinal = isFinalResult(state, plan);
  // In input order, rows go out record by record as their results are final, not only chunk by chunk.
  const live = gate && !opts.unordered ? createLiveResults(isFinal) : null;
  // Unordered: rows go out as their results arrive, whatever the chunk (a bounded queue in between).
  const queue = gate && opts.unordered ? createResultQueue(REALTIME_MAX_REQUESTS) : null;
  // Round 0's results, each parsed once: final ones feed the join and open their chunk's gate.
  const round = gate
    ? createRoundResults(
        isFinal,
        state.chunks.map((c) => c.requests),
        (result, index) => (live ?? queue)!.offer(result, index),
      )
    : null;
  const work = (async () => {
    try {
      await runPhases(
        { jobDir, store, state, plan, jobOptions, emit, realtime, deadline },
        gate && round
          ? async (index) => {
              queue?.done(index);
              // Otherwise it opens once the retry rounds are done.
              if (round.allFinal(index)) gate.open(index);
            }
          : undefined,
        round ? (line, index) => round.push(line, index) : undefined,
      );
    } catch (err) {
      throw interrupted(err, opts.signal, jobDir);
    }
  })();
  if (gate) work.then(() => gate.openAll(), (err: unknown) => gate.fail(err));
  return { work, gate, live, queue, stop, ready: gate ? Promise.resolve() : work };
}

/** The joined rows in batches, in input order (or as they arrive with `unordered`), chunk by chunk or through the gate. */
async function* joinedRows({ jobDir, state, plan, opts, cache, keep }: RunContext, manifest: JobManifest | null, { gate, live, queue }: Sending): AsyncGenerator<JoinedRow[], RunJoinReport, undefined> {
  const usage = new UsageTally(String(state.settings.request['model'] ?? ''));
  const tokens = { prompt: 0, completion: 0, usage };
  const chunks = { jobDir, state, manifest, tokens };
  // Versions before one join copied each chunk's results to run/join/; a crash there left the copy behind.
  await rm(jobPath(jobDir, join('run', 'join')), { recursive: true, force: true });
  const input = {
    plan,
    records: inputRecords(state, keep),
    rejects: state.skipped > 0 ? readRejects(jobPath(jobDir, PREPARE_REJECTS_FILE)) : [],
    ...((state.cached ?? 0) > 0 ? { cached: readCachedResults(jobPath(jobDir, CACHED_RESULTS_FILE)) } : {}),
    onIssue: opts.onIssue,
  };
  // Each sent request's valid answer is stored as the join judges it (the keys were kept as the job was prepared).
  const answers = state.chunks.length > 0 ? await cache.answers() : null;
  const keeper = answers ? keepAnswers(answers, jobDir, { onWarning: opts.onWarning }) : null;
  try {
  const report =
    gate && opts.unordered
      ? yield* inBatches(unorderedJoin({
          ...input,
          chunkSizes: state.chunks.map((c) => c.requests),
          opened: gate.opened(),
          chunkAt: (index, skip) => attemptChunk(chunks, index, skip),
          heldDir: jobPath(jobDir, join('run', 'held')),
          ...(queue ? { events: queue } : {}),
          // Rows written as round 0 answers them (realtime): their lines are not read again.
          onLiveResult: (result) => usage.addResult('realtime', result),
          ...(keeper ? { onJoined: (outcome: JoinOutcome, request: number) => keeper.keepAt(outcome, request) } : {}),
        }))
      : yield* orderedJoinBatches({
          ...input,
          ...(keeper ? { onJoined: (outcome: JoinOutcome) => keeper.keep(outcome) } : {}),
          chunks: attemptChunks({
            ...chunks,
            ...(gate ? { ready: (index: number) => gate.wait(index) } : {}),
            ...(gate && live
              ? {
                  live: {
                    results: tallied(live, usage),
                    wait: (index: number) => gate.wait(index),
                    requestFile: (index: number) => jobPath(jobDir, manifest!.parts.find((p) => p.index === state.chunks[index]!.part)!.path),
                    answersLog: (index: number) => realtimeAnswersLog(jobDir, index),
                  },
                }
              : {}),
          }),
        });
  // Every attempt's tokens: the joined results' (the report's) and those of lines no record took.
  return { ...report, allPromptTokens: report.promptTokens + tokens.prompt, allCompletionTokens: report.completionTokens + tokens.completion, usage };
  } finally {
    await keeper?.close();
  }
}

/** Live results whose usage goes to the spend as the join takes them (round 0 of a realtime run: realtime answers). */
function tallied(live: LiveResults, usage: UsageTally): LiveChunkResults {
  return {
    wakeup: live.wakeup,
    follow: (chunk, answersLog) => live.follow(chunk, answersLog),
    take(customId) {
      const result = live.take(customId);
      if (result) usage.addResult('realtime', result);
      return result;
    },
  };
}

/** Each row as a batch of its own. */
async function* inBatches<R>(rows: AsyncGenerator<JoinedRow, R, undefined>): AsyncGenerator<JoinedRow[], R, undefined> {
  for (let next = await rows.next(); ; next = await rows.next()) {
    if (next.done) return next.value;
    yield [next.value];
  }
}

/** The run's input records again, in batches, read as prepare read them (malformed ones skipped: they are already rows). */
function inputRecords(state: RunState, keep: ((record: number) => boolean) | undefined): AsyncIterable<SourceRecord[]> {
  return recordBatches({
    ...(keep ? { keep } : {}),
    input: state.settings.input,
    format: state.settings.format,
    onInvalidRecord: 'skip',
    ...(state.settings.delimiter ? { delimiter: state.settings.delimiter } : {}),
    ...(state.settings.encoding ? { encoding: state.settings.encoding } : {}),
  });
}

/** Write every row to the sinks (and yield it for runRecords); files are renamed into place only when all are written. */
async function* writeRows(
  { jobDir, opts }: RunContext,
  { rows, sinks, sending, emitRows, evaluation }: { rows: AsyncGenerator<JoinedRow[], RunJoinReport, undefined>; sinks: Sinks; sending: Sending; emitRows: boolean; evaluation: RunEvaluation | null },
): AsyncGenerator<Record<string, unknown>, RunJoinReport, undefined> {
  let report: RunJoinReport | undefined;
  let ended = false;
  const pauseInJoin = hasPausePoint('run-during-join');
  try {
    for (;;) {
      // Ctrl-C during the join stops it between rows: the output's temp file is removed, a resume joins again.
      if (opts.signal?.aborted) throw interrupted(opts.signal.reason, opts.signal, jobDir);
      const next = await rows.next();
      if (next.done) {
        report = next.value;
        break;
      }
      // A batch of rows is one write; the test hooks still see each row (a pause point: each row written alone).
      for (const batch of pauseInJoin ? next.value.map((row) => [row]) : [next.value]) {
        await sinks.write(batch);
        for (const joined of batch) {
          evaluation?.add(joined.row);
          crashPoint('run-during-join');
          if (pauseInJoin) await pausePoint('run-during-join', opts.signal);
          if (emitRows) yield joined.row;
        }
      }
    }
    await sinks.end();
    ended = true;
  } finally {
    // An error or a consumer that stopped early: no half-written output file is left in place.
    if (!ended) await sinks.destroy();
    await rows.return(undefined as never);
    if (!ended && sending.gate) {
      sending.stop.abort(new Error('the join stopped'));
      await sending.work.catch(() => {});
    }
  }
  return report;
}

function interrupted(err: unknown, signal: AbortSignal | undefined, jobDir: string): unknown {
  if (!signal?.aborted || (isKbatchError(err) && err.code !== 'ABORTED')) return err;
  if (isKbatchError(err) && err.code === 'ABORTED' && err.message.includes(jobDir)) return err;
  return new KbatchError('ABORTED', `Interrupted; the run is saved. Continue it with: kbatch resume ${jobDir}`, { cause: err });
}
