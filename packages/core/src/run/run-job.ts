import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KbatchError, isKbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { compileAnswerSchema, loadAnswerSchema, type AnswerSchema } from '../answers/answer-schema.js';
import { addChunks, DEFAULT_JOBS_DIR, jobPath, newJobId } from '../job/create-job.js';
import { acquireJobLock } from '../job/lock.js';
import { loadManifest, writeManifest, type JobManifest } from '../job/manifest.js';
import { resumeJob, type JobOptions } from '../job/run-job.js';
import { summarizeJob } from '../job/summary.js';
import { crashPoint } from '../job/crash-point.js';
import type { JobSummary } from '../job/types.js';
import { createJoinPlan, type JoinPlan } from '../join/join-plan.js';
import { resolveOutputFormat } from '../output/output-format.js';
import { RequestOptionsSchema, CHAT_PARAM_FIELDS } from '../request/request-options.js';
import { parseSize } from '../chunk/size.js';
import { chooseMode, DEFAULT_AUTO_THRESHOLD } from '../realtime/choose-mode.js';
import { runRealtimeJob, REALTIME_ANSWERS_FILE } from '../realtime/run-realtime-job.js';
import type { RealtimeClientInput } from '../realtime/fast-client.js';
import type { RealtimeJobSummary } from '../realtime/run-to-files.js';
import { latestResults, realtimeChunkResults } from './attempt-results.js';
import { parseResultLine } from '../join/result-line.js';
import { joinRun, type RunJoinReport, } from './join-run.js';
import { prepareRun } from './prepare-run.js';
import { planRetryRound, realtimeRetryDir, realtimeRetryResults } from './retry-round.js';
import { RunJobOptionsSchema, type ResolvedRunJobOptions, type RunEvent, type RunJobOptions, type RunSummary } from './run-options.js';
import { loadRunState, saveRunState, type RunSettings, type RunState } from './run-state.js';
import { spoolInput } from './spool-input.js';
import { checkInputUnchanged, fingerprintFile } from './input-fingerprint.js';
import { checkSinkTargets, openSinks, sinkTargets } from './run-sinks.js';

/**
 * Default chunk size (requests) in `mode: 'realtime'`: realtime results are joined and written chunk by chunk as
 * each chunk's answers are final, so smaller chunks make the output flow sooner (batch mode keeps 50,000).
 */
export const REALTIME_MAX_REQUESTS = 1000;

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
  const run = executeRun(options, false);
  for (;;) {
    const next = await run.next();
    if (next.done) return next.value;
  }
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
  if ((await loadRunState(resolve(options.cwd ?? process.cwd(), jobDir))) === null) {
    throw new KbatchError('JOB_NOT_FOUND', `No kbatch run in ${jobDir} (run.json is missing); for a batch-only job use resumeJob`, { file: jobDir });
  }
  return runJob({ ...options, jobDir });
}

/**
 * Streaming library form: records in (an async iterable or object-mode stream of plain objects, or a
 * path/stream of bytes), joined records out in input order; the generator's return value is the summary.
 * Nothing is written unless `output`/`rejects` are given. Resumable like {@link runJob} (pass `jobDir`).
 * @example
 * for await (const row of runRecords({ input: tickets, model, prompt: '{{text}}', schema, client })) console.log(row.category);
 */
export function runRecords(options: RunJobOptions): AsyncGenerator<Record<string, unknown>, RunSummary, undefined> {
  return executeRun(options, true);
}

async function* executeRun(options: RunJobOptions, emitRows: boolean): AsyncGenerator<Record<string, unknown>, RunSummary, undefined> {
  const started = Date.now();
  const opts = parseOptions(RunJobOptionsSchema, options, emitRows ? 'runRecords' : 'runJob');
  const cwd = opts.cwd ?? process.cwd();
  const jobId = newJobId();
  const jobDir = resolve(cwd, opts.jobDir ?? join(DEFAULT_JOBS_DIR, jobId));
  let resumed = false;
  const emit = (event: RunEvent): void => {
    try {
      // The job is driven phase by phase, so every drive looks like a resume to it; only a rerun is one.
      opts.onProgress?.(event.type === 'job' ? { ...event, resumed } : event);
    } catch {
      // A failing progress renderer must not break the run.
    }
  };
  await mkdir(join(jobDir, 'run'), { recursive: true });
  const lock = await acquireJobLock(join(jobDir, 'run'));
  try {
    let state = await loadRunState(jobDir);
    resumed = state !== null;
    const schema = await resolveSchema(opts, state, cwd);
    if (state === null) {
      const settings = await newSettings(options, opts, jobDir, cwd, schema, emit);
      const now = new Date().toISOString();
      state = { version: 1, kind: 'kbatch-run', createdAt: now, updatedAt: now, settings, phase: 'init', chunks: [], recordsRead: 0, skipped: 0, rounds: [], retriesDone: false };
      await saveRunState(jobDir, state);
    } else {
      await checkSameRun(state.settings, opts, cwd, schema);
      applyOutputOverrides(state.settings, opts, cwd);
      if (opts.retries !== state.settings.retries && options.retries !== undefined) {
        state.settings.retries = opts.retries;
        if (state.rounds.length < opts.retries) state.retriesDone = false;
      }
      applyRealtimeOverrides(state, options, opts);
      // Before anything more is sent for it: a changed input file dooms the join.
      if (state.settings.inputFingerprint && state.phase !== 'joined') await checkInputUnchanged(state.settings.input, state.settings.inputFingerprint);
      if (opts.window !== undefined && opts.window !== state.settings.window) await overrideWindow(jobDir, state, opts.window);
      await saveRunState(jobDir, state);
    }
    const settings = state.settings;
    // Before anything is prepared or sent: a bad --output/--rejects must not surface after the batches ran.
    const targets = sinkTargets(opts, settings, jobDir, emitRows);
    await checkSinkTargets(targets);
    const plan = createJoinPlan({
      ...(settings.labels ? { labels: settings.labels } : {}),
      ...(schema ? { schema } : {}),
      confidence: settings.confidence,
      ...(typeof settings.request.idColumn === 'string' ? { idColumn: settings.request.idColumn } : {}),
      prefix: settings.prefix,
      keepRaw: settings.keepRaw,
    });
    // Stops what runs behind a streaming join when the join ends first (error, or a consumer that stopped reading).
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const jobOptions: JobOptions = {
      client: opts.client,
      window: settings.window,
      ...(settings.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
      pollIntervalMs: opts.pollIntervalMs,
      noResubmit: opts.noResubmit,
      maxResubmits: opts.maxResubmits,
      cancelOnInterrupt: opts.cancelOnInterrupt,
      retryBaseMs: opts.retryBaseMs,
      onProgress: emit,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      signal,
    };
    const realtime = realtimeRunner(jobDir, settings, options, opts, emit, signal);
    try {
      if (state.phase === 'init') {
        emit({ type: 'phase', phase: 'prepare', message: `preparing requests from ${settings.input}` });
        // A file is hashed alongside prepare (both stream it; the second read mostly hits the page cache).
        const [prepared, fingerprint] = await Promise.all([
          prepareRun(jobDir, settings, plan.answers.instruction, opts.jobDir === undefined ? jobId : undefined, opts.signal),
          settings.inputFingerprint ? Promise.resolve(settings.inputFingerprint) : fingerprintFile(settings.input),
        ]);
        crashPoint('run-after-prepare');
        Object.assign(state, prepared, { phase: 'prepared' });
        settings.inputFingerprint = fingerprint;
        await saveRunState(jobDir, state);
      }
      if (state.mode === undefined) {
        // Settled once, before anything is sent; a run.json from before modes existed is a batch run.
        const requests = state.chunks.reduce((n, c) => n + c.requests, 0);
        state.mode = state.phase === 'prepared' ? chooseMode({ mode: settings.mode, requests, autoThreshold: settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD }) : 'batch';
        await saveRunState(jobDir, state);
      }
    } catch (err) {
      throw interrupted(err, opts.signal, jobDir);
    }
    // Realtime results are written as they finish: each chunk is joined as soon as its answers are final
    // (in chunk order; only the list of finished chunks is held), while later chunks are still being sent.
    const gate = state.chunks.length > 0 && state.mode === 'realtime' && state.phase === 'prepared' ? chunkGate(state.chunks.length) : null;
    const work = (async () => {
      try {
        await runPhases(jobDir, state, plan, jobOptions, emit, realtime, gate ? (index) => openIfFinal(jobDir, state, plan, gate, index) : undefined);
      } catch (err) {
        throw interrupted(err, opts.signal, jobDir);
      }
    })();
    if (gate) work.then(() => gate.openAll(), (err: unknown) => gate.fail(err));
    else await work;
    const manifest = state.chunks.length > 0 ? await loadManifest(jobDir) : null;
    // Results are matched to records by position within each chunk: the input must be the one prepared.
    if (settings.inputFingerprint) await checkInputUnchanged(settings.input, settings.inputFingerprint);
    emit({ type: 'phase', phase: 'join', message: gate ? 'writing results as their chunks finish' : 'joining results onto the input records' });
    const rows = joinRun(jobDir, state, manifest, plan, opts.onIssue, gate ? (index) => gate.wait(index) : undefined);
    const sinks = openSinks(targets, opts, settings, plan);
    let report: RunJoinReport | undefined;
    let ended = false;
    try {
      for (;;) {
        const next = await rows.next();
        if (next.done) {
          report = next.value;
          break;
        }
        await sinks.write(next.value);
        crashPoint('run-during-join');
        if (emitRows) yield next.value.row;
      }
      await sinks.end();
      ended = true;
    } finally {
      // An error or a consumer that stopped early: no half-written output file is left in place.
      if (!ended) await sinks.destroy();
      await rows.return(undefined as never);
      if (!ended && gate) {
        stop.abort(new Error('the join stopped'));
        await work.catch(() => {});
      }
    }
    await work;
    state.phase = 'joined';
    await saveRunState(jobDir, state);
    const summary = summarize(state, manifest, report!, jobDir, started, resumed, sinks.outputs);
    emit({ type: 'phase', phase: 'done', message: `${summary.succeeded}/${summary.records} records succeeded` });
    return summary;
  } finally {
    await lock.release();
  }
}

async function resolveSchema(opts: ResolvedRunJobOptions, state: RunState | null, cwd: string): Promise<AnswerSchema | undefined> {
  if (typeof opts.schema === 'string') return loadAnswerSchema(resolve(cwd, opts.schema));
  if (opts.schema !== undefined) return compileAnswerSchema(opts.schema);
  if (state?.settings.jsonSchema) {
    if (state.settings.schemaKind === 'zod') {
      opts.onWarning?.(
        'this run was started with a zod schema; continuing with the JSON Schema converted from it (refinements, transforms and defaults do not apply) — pass the same `schema` to keep them',
      );
    }
    return compileAnswerSchema(state.settings.jsonSchema);
  }
  return undefined;
}

/** The request options a run was given (prompt read from templateFile), validated like prepare does. */
async function requestOptions(opts: ResolvedRunJobOptions, cwd: string): Promise<Record<string, unknown>> {
  let prompt = opts.prompt;
  if (opts.templateFile !== undefined) {
    try {
      prompt = (await readFile(resolve(cwd, opts.templateFile), 'utf8')).replace(/\r?\n$/, '');
    } catch (cause) {
      throw new KbatchError('INPUT_NOT_FOUND', `cannot read template file "${opts.templateFile}"`, { file: opts.templateFile, cause });
    }
  }
  const request: Record<string, unknown> = { model: opts.model, prompt, system: opts.system, idColumn: opts.idColumn };
  for (const [key] of CHAT_PARAM_FIELDS) request[key] = opts[key];
  for (const key of Object.keys(request)) if (request[key] === undefined) delete request[key];
  parseOptions(RequestOptionsSchema, request, 'runJob');
  return request;
}

async function newSettings(
  given: RunJobOptions,
  opts: ResolvedRunJobOptions,
  jobDir: string,
  cwd: string,
  schema: AnswerSchema | undefined,
  emit: (e: RunEvent) => void,
): Promise<RunSettings> {
  if (opts.input === undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `input`: must be a path, "-", a Readable or an iterable of records, got nothing', { field: 'input' });
  if (opts.prompt === undefined && opts.templateFile === undefined) {
    throw new KbatchError('OPTION_INVALID', 'Invalid option `prompt`: must be a template (or give `templateFile`), got nothing', { field: 'prompt' });
  }
  const request = await requestOptions(opts, cwd);
  if (typeof opts.input !== 'string' || opts.input === '-') emit({ type: 'phase', phase: 'spool', message: `saving the input records into ${jobDir}` });
  await checkSinkTargets({
    output: typeof opts.output === 'string' && opts.output !== '-' ? resolve(cwd, opts.output) : null,
    rejects: typeof opts.rejects === 'string' ? resolve(cwd, opts.rejects) : null,
  });
  const spooled = await spoolInput(opts.input, jobDir, { format: opts.format, stdin: opts.stdin, cwd, signal: opts.signal });
  const output = typeof opts.output === 'string' ? (opts.output === '-' ? '-' : resolve(cwd, opts.output)) : null;
  return {
    input: spooled.path,
    spooled: spooled.spooled,
    ...(spooled.fingerprint ? { inputFingerprint: spooled.fingerprint } : {}),
    format: spooled.format,
    ...(opts.delimiter !== undefined ? { delimiter: opts.delimiter } : {}),
    onInvalidRecord: opts.onInvalidRecord,
    request,
    ...(opts.labels ? { labels: opts.labels } : {}),
    ...(schema ? { jsonSchema: schema.jsonSchema, schemaKind: typeof opts.schema === 'object' && '_zod' in opts.schema ? ('zod' as const) : ('json' as const) } : {}),
    confidence: opts.confidence ?? (opts.labels !== undefined && opts.logprobs === true),
    ...(opts.maxRequests !== undefined ? { maxRequests: opts.maxRequests } : opts.mode === 'realtime' ? { maxRequests: REALTIME_MAX_REQUESTS } : {}),
    ...(opts.maxBytes !== undefined ? { maxBytes: parseSize(opts.maxBytes, 'maxBytes') } : {}),
    retries: opts.retries,
    window: opts.window ?? '24h',
    output,
    outputFormat: resolveOutputFormat(opts.outputFormat, output ?? undefined),
    rejects: typeof opts.rejects === 'string' ? resolve(cwd, opts.rejects) : null,
    prefix: opts.prefix ?? '',
    keepRaw: opts.keepRaw ?? false,
    mode: opts.mode,
    autoThreshold: opts.autoThreshold,
    ...(opts.rpm !== undefined ? { rpm: opts.rpm } : {}),
    ...(opts.tpm !== undefined ? { tpm: opts.tpm } : {}),
    ...(opts.requestRetries !== undefined ? { requestRetries: opts.requestRetries } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(given.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    finishRealtime: opts.finishRealtime ?? false,
  };
}

/** A rerun must describe the same requests; output options may change. */
async function checkSameRun(settings: RunSettings, opts: ResolvedRunJobOptions, cwd: string, schema: AnswerSchema | undefined): Promise<void> {
  const differs = (what: string): never => {
    throw new KbatchError(
      'JOB_MISMATCH',
      `the job directory holds a run with a different ${what}; rerun with the same options to continue it, or use a new --job-dir`,
      { field: what },
    );
  };
  if (typeof opts.input === 'string' && opts.input !== '-' && !settings.spooled && resolve(cwd, opts.input) !== settings.input) differs('input');
  // Chosen over a warning: the user may believe the file is what gets joined, but the run joins its saved copy.
  if (typeof opts.input === 'string' && opts.input !== '-' && settings.spooled) {
    throw new KbatchError(
      'JOB_MISMATCH',
      `this run read its input from stdin or a stream (saved as ${settings.input}); rerun it with - (stdin is not read again) or use a new --job-dir for ${opts.input}`,
      { field: 'input', file: resolve(cwd, opts.input) },
    );
  }
  if (opts.model !== undefined || opts.prompt !== undefined || opts.templateFile !== undefined) {
    const request = await requestOptions({ ...opts, model: opts.model ?? (settings.request.model as string) } as ResolvedRunJobOptions, cwd);
    for (const key of new Set([...Object.keys(request), ...Object.keys(settings.request)])) {
      if (JSON.stringify(request[key]) !== JSON.stringify(settings.request[key])) differs(key === 'prompt' ? 'prompt' : `\`${key}\``);
    }
  }
  if (opts.labels !== undefined && JSON.stringify(opts.labels) !== JSON.stringify(settings.labels)) differs('labels');
  if (opts.schema !== undefined && JSON.stringify(schema?.jsonSchema) !== JSON.stringify(settings.jsonSchema)) differs('schema');
}

function applyOutputOverrides(settings: RunSettings, opts: ResolvedRunJobOptions, cwd: string): void {
  if (typeof opts.output === 'string') {
    settings.output = opts.output === '-' ? '-' : resolve(cwd, opts.output);
    settings.outputFormat = resolveOutputFormat(opts.outputFormat, settings.output);
  } else if (opts.outputFormat !== undefined) settings.outputFormat = opts.outputFormat;
  if (typeof opts.rejects === 'string') settings.rejects = resolve(cwd, opts.rejects);
  if (opts.prefix !== undefined) settings.prefix = opts.prefix;
  if (opts.keepRaw !== undefined) settings.keepRaw = opts.keepRaw;
}

/**
 * A rerun may change the completion window until a batch create was attempted (the manifest's window is
 * what batches are created with), so a run stuck on a window the API refuses can be fixed in place.
 */
async function overrideWindow(jobDir: string, state: RunState, window: string): Promise<void> {
  const manifest = state.phase === 'init' ? null : await loadManifest(jobDir).catch(() => null);
  if (manifest?.parts.some((p) => p.createStartedAt !== undefined || p.batchId !== undefined)) {
    throw new KbatchError(
      'JOB_MISMATCH',
      `the job directory's batches were already created with window ${manifest.window}; rerun without --window ${window} to continue it, or use a new --job-dir`,
      { field: 'window' },
    );
  }
  state.settings.window = window;
  if (manifest && manifest.window !== window) await writeManifest(jobDir, { ...manifest, window });
}

/** Send what is unsent and run the retry rounds (realtime or batch); `onChunkDone` hears of each realtime chunk finished in round 0. */
async function runPhases(
  jobDir: string,
  state: RunState,
  plan: JoinPlan,
  jobOptions: JobOptions,
  emit: (e: RunEvent) => void,
  realtime: RealtimeRunner,
  onChunkDone?: (index: number) => Promise<void>,
): Promise<void> {
  if (state.chunks.length > 0 && state.mode === 'realtime') {
    if (state.phase === 'prepared') {
      const manifest = await loadManifest(jobDir);
      const total = state.chunks.reduce((n, c) => n + c.requests, 0);
      emit({ type: 'phase', phase: 'submit', message: `sending ${total} request${total === 1 ? '' : 's'} to /v1/chat/completions (realtime) from ${jobDir}` });
      await realtime.run(
        state.chunks.map((c) => jobPath(jobDir, manifest.parts.find((p) => p.index === c.part)!.path)),
        state.chunks.map((_, i) => jobPath(jobDir, realtimeChunkResults(i))),
        undefined,
        total,
        onChunkDone,
      );
      state.phase = 'submitted';
      await saveRunState(jobDir, state);
    }
    await retryRounds(jobDir, state, plan, jobOptions, emit, realtime);
  } else if (state.chunks.length > 0) {
    if (state.phase === 'prepared') {
      emit({ type: 'phase', phase: 'submit', message: `running ${state.chunks.length} batch${state.chunks.length === 1 ? '' : 'es'} in ${jobDir}` });
      await resumeJob(jobDir, jobOptions);
      state.phase = 'submitted';
      await saveRunState(jobDir, state);
    }
    await retryRounds(jobDir, state, plan, jobOptions, emit, realtime);
  } else if (state.phase === 'prepared') {
    state.phase = 'submitted';
    state.retriesDone = true;
    await saveRunState(jobDir, state);
  }
}

/** Per-chunk "results are final" latches the join waits on (resolved early per chunk, or all at once at the end). */
interface ChunkGate {
  wait(index: number): Promise<void>;
  open(index: number): void;
  openAll(): void;
  fail(err: unknown): void;
}

function chunkGate(count: number): ChunkGate {
  const latches = Array.from({ length: count }, () => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  });
  for (const l of latches) l.promise.catch(() => {});
  return {
    wait: (index) => latches[index]!.promise,
    open: (index) => latches[index]!.resolve(),
    openAll: () => latches.forEach((l) => l.resolve()),
    fail: (err) => latches.forEach((l) => l.reject(err)),
  };
}

/**
 * Open a realtime chunk's gate when no retry round can change it: retries are off, or every request in it
 * succeeded with an answer the labels/schema accept. Otherwise it opens once the retry rounds are done.
 */
async function openIfFinal(jobDir: string, state: RunState, plan: JoinPlan, gate: ChunkGate, index: number): Promise<void> {
  if (state.settings.retries > 0) {
    let good = 0;
    for await (const { line } of latestResults(jobDir, [[{ files: [realtimeChunkResults(index)], resubmitted: false }]])) {
      const result = parseResultLine(line);
      if (result.ok && plan.answers.parse(result.response ?? '', result.logprobs).error === null) good++;
    }
    if (good !== state.chunks[index]!.requests) return;
  }
  gate.open(index);
}

/** Add, run and evaluate retry rounds until everything succeeded or `retries` rounds ran. Crash-safe at every step. */
async function retryRounds(
  jobDir: string,
  state: RunState,
  plan: JoinPlan,
  jobOptions: JobOptions,
  emit: (e: RunEvent) => void,
  realtime: RealtimeRunner,
): Promise<void> {
  while (!state.retriesDone) {
    const manifest = await loadManifest(jobDir);
    const last = state.rounds.at(-1);
    if (last && !last.finished) {
      const requests = last.parts.reduce((n, p) => n + p.requests, 0);
      if (last.via === 'realtime') {
        emit({ type: 'phase', phase: 'retry', message: `retry round ${last.round}: ${requests} requests realtime` });
        await realtime.run(
          last.parts.map((p) => jobPath(jobDir, p.file)),
          last.parts.map((p) => jobPath(jobDir, p.results!)),
          jobPath(jobDir, join(realtimeRetryDir(last.round), REALTIME_ANSWERS_FILE)),
          requests,
        );
      } else {
        if (last.parts.some((p) => p.part === null)) await attachParts(jobDir, state, manifest, last.parts);
        emit({ type: 'phase', phase: 'retry', message: `retry round ${last.round}: ${requests} requests` });
        await resumeJob(jobDir, jobOptions);
      }
      last.finished = true;
      await saveRunState(jobDir, state);
      continue;
    }
    const round = (last?.round ?? 0) + 1;
    if (round > state.settings.retries || manifest.cancelledAt) {
      state.retriesDone = true;
      await saveRunState(jobDir, state);
      break;
    }
    const planned = await planRetryRound(jobDir, state, manifest, plan, round);
    if (planned.length === 0) {
      state.retriesDone = true;
      await saveRunState(jobDir, state);
      break;
    }
    const requests = planned.reduce((n, p) => n + p.requests, 0);
    // Invalid answers are successes to the realtime engine, so a realtime round always re-sends (its own answers log).
    const via = state.mode === 'realtime' || (state.settings.finishRealtime && requests < (state.settings.autoThreshold ?? DEFAULT_AUTO_THRESHOLD)) ? 'realtime' : 'batch';
    if (via === 'realtime') for (const p of planned) p.results = realtimeRetryResults(round, p.chunk);
    state.rounds.push({ round, via, parts: planned, finished: false });
    await saveRunState(jobDir, state);
    emit({ type: 'retry-round', round, requests, parts: planned.length, via });
  }
}

/** Give a planned round its job parts: ones a crash left unclaimed in the manifest, else new ones from addChunks. */
async function attachParts(jobDir: string, state: RunState, manifest: JobManifest, parts: RunState['rounds'][number]['parts']): Promise<void> {
  const claimed = new Set(state.rounds.filter((r) => r.via !== 'realtime').flatMap((r) => r.parts.map((p) => p.part)).filter((p): p is string => p !== null));
  const unclaimed = manifest.parts.filter((p) => p.kind === 'retry' && !claimed.has(p.index)).map((p) => p.index);
  const pending = parts.filter((p) => p.part === null);
  const indexes = unclaimed.length === pending.length ? unclaimed : await addChunks(jobDir, pending.map((p) => join(jobDir, p.file)));
  crashPoint('run-after-add-retries');
  pending.forEach((p, i) => (p.part = indexes[i]!));
  await saveRunState(jobDir, state);
}

/** Runs request files realtime with the run's client and realtime settings, reporting progress as `realtime` events. */
interface RealtimeRunner {
  run(requestFiles: string[], resultFiles: string[], answersLog: string | undefined, total: number, onFileDone?: (index: number) => Promise<void>): Promise<RealtimeJobSummary>;
}

function realtimeRunner(
  jobDir: string,
  settings: RunSettings,
  given: RunJobOptions,
  opts: ResolvedRunJobOptions,
  emit: (e: RunEvent) => void,
  signal: AbortSignal,
): RealtimeRunner {
  return {
    async run(requestFiles, resultFiles, answersLog, total, onFileDone) {
      let done = 0;
      let failed = 0;
      const summary = await runRealtimeJob({
        jobDir,
        requestFiles,
        resultFiles,
        ...(answersLog !== undefined ? { answersLog } : {}),
        ...(onFileDone ? { onFileDone: (_chunk: unknown, index: number) => onFileDone(index) } : {}),
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
        signal,
        onEvent: (event) => {
          if (event.type === 'answered') {
            done++;
            if (!event.replayed) crashPoint('run-during-realtime');
          }
          else if (event.type === 'failed') {
            done++;
            failed++;
          }
          emit({ type: 'realtime', event, done, failed, total });
        },
      });
      crashPoint('run-after-realtime');
      return summary;
    },
  };
}

/** Realtime settings given on a rerun replace the stored ones; the mode only until it is settled. */
function applyRealtimeOverrides(state: RunState, given: RunJobOptions, opts: ResolvedRunJobOptions): void {
  const settings = state.settings;
  if (given.rpm !== undefined) settings.rpm = opts.rpm;
  if (given.tpm !== undefined) settings.tpm = opts.tpm;
  if (given.requestRetries !== undefined) settings.requestRetries = opts.requestRetries;
  if (given.requestTimeoutMs !== undefined) settings.requestTimeoutMs = opts.requestTimeoutMs;
  if (given.concurrency !== undefined) settings.concurrency = opts.concurrency;
  if (given.finishRealtime !== undefined) settings.finishRealtime = opts.finishRealtime ?? false;
  if (state.mode === undefined) {
    if (given.mode !== undefined) settings.mode = opts.mode;
    if (given.autoThreshold !== undefined) settings.autoThreshold = opts.autoThreshold;
  } else if (given.mode !== undefined && given.mode !== 'auto' && given.mode !== state.mode) {
    opts.onWarning?.(`this run already runs in ${state.mode} mode (kept; --mode ${given.mode} applies to new runs only)`);
  }
}

function interrupted(err: unknown, signal: AbortSignal | undefined, jobDir: string): unknown {
  if (!signal?.aborted || (isKbatchError(err) && err.code !== 'ABORTED')) return err;
  if (isKbatchError(err) && err.code === 'ABORTED' && err.message.includes(jobDir)) return err;
  return new KbatchError('ABORTED', `Interrupted; the run is saved. Continue it with: kbatch resume ${jobDir}`, { cause: err });
}

function summarize(
  state: RunState,
  manifest: JobManifest | null,
  report: RunJoinReport,
  jobDir: string,
  started: number,
  resumed: boolean,
  outputs: RunSummary['outputs'],
): RunSummary {
  const job: JobSummary | null = manifest && state.mode !== 'realtime' ? summarizeJob(jobDir, manifest) : null;
  const roundRequests = state.rounds.map((r) => r.parts.reduce((n, p) => n + p.requests, 0));
  const realtimeRequests =
    (state.mode === 'realtime' ? state.chunks.reduce((n, c) => n + c.requests, 0) : 0) +
    state.rounds.reduce((n, r, i) => n + (r.via === 'realtime' ? roundRequests[i]! : 0), 0);
  const records = report.records + report.skipped;
  return {
    jobId: manifest?.jobId ?? null,
    jobDir,
    records,
    succeeded: report.succeeded,
    failed: records - report.succeeded,
    requestErrors: report.failed,
    invalidAnswers: report.invalid,
    missing: report.missing,
    skipped: report.skipped,
    retried: roundRequests[0] ?? 0,
    retryRequests: roundRequests.reduce((a, b) => a + b, 0),
    rounds: state.rounds.length,
    promptTokens: report.allPromptTokens,
    completionTokens: report.allCompletionTokens,
    batches: manifest ? manifest.parts.filter((p) => p.batchId).length : 0,
    mode: state.mode ?? 'batch',
    realtimeRequests,
    unknownResults: report.unknown,
    duplicateResults: report.duplicates,
    wallMs: Date.now() - started,
    resumed,
    outputs,
    job,
  };
}

/**
 * One-line-per-fact human summary of a run (the CLI writes it to stderr).
 * @example formatRunSummary(s) // 'kbatch run: 30 records, 30 succeeded, 0 failed, 2 retried; …'
 */
export function formatRunSummary(s: RunSummary): string {
  const lines = [
    `records ${s.records}: ${s.succeeded} succeeded, ${s.failed} failed` +
      (s.failed > 0 ? ` (${s.requestErrors} request errors, ${s.invalidAnswers} invalid answers, ${s.missing} without result, ${s.skipped} skipped)` : '') +
      `, ${s.retried} retried${s.rounds > 0 ? ` in ${s.rounds} round${s.rounds === 1 ? '' : 's'}` : ''}`,
    `tokens ${s.promptTokens} prompt + ${s.completionTokens} completion; ${s.batches} batch${s.batches === 1 ? '' : 'es'}` +
      (s.realtimeRequests > 0 ? ` + ${s.realtimeRequests} realtime request${s.realtimeRequests === 1 ? '' : 's'}` : '') +
      `; wall time ${(s.wallMs / 1000).toFixed(1)}s`,
  ];
  if (s.unknownResults + s.duplicateResults > 0) lines.push(`${s.unknownResults} unknown and ${s.duplicateResults} duplicate results (listed with --verbose)`);
  if (s.outputs.output && s.outputs.output !== '-') lines.push(`output: ${s.outputs.output}`);
  if (s.outputs.rejects && s.failed > 0) lines.push(`rejects: ${s.outputs.rejects}`);
  lines.push(`job: ${s.jobDir}`);
  return `${lines.join('\n')}\n`;
}
