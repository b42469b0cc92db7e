// How a run's options become its stored settings, and what a rerun may change.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { compileAnswerSchema, loadAnswerSchema, type AnswerSchema } from '../answers/answer-schema.js';
import type { JobStore } from '../state/job-store.js';
import { resolveOutputFormat } from '../output/output-format.js';
import { RequestFieldsSchema, CHAT_PARAM_FIELDS } from '../request/request-options.js';
import { parseSize } from '../chunk/size.js';
import { REALTIME_MAX_REQUESTS } from './realtime-runner.js';
import type { ResolvedRunJobOptions, RunEvent, RunJobOptions } from './run-options.js';
import type { RunSettings, RunState } from '../state/run-state.js';
import { spoolInput, type SpooledInput } from './spool-input.js';
import { chunkLimits, DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS } from '../chunk/chunk-options.js';
import { jobProvider } from '../providers/job-provider.js';

/** The answer schema of this call: the one given (a path, JSON Schema or zod), else the stored JSON Schema (warns if it was zod). */
export async function resolveSchema(opts: ResolvedRunJobOptions, state: RunState | null, cwd: string): Promise<AnswerSchema | undefined> {
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

/**
 * How a run reads its input, as part of what defines its requests (the derived job directory's hash and
 * {@link checkSameRun} use this one list): format (null = detected), delimiter (null = the format's), encoding, onInvalidRecord.
 */
export function readIdentity(opts: Pick<ResolvedRunJobOptions, 'format' | 'delimiter' | 'encoding' | 'onInvalidRecord'>): { format: string | null; delimiter: string | null; encoding: string; onInvalidRecord: string } {
  return { format: opts.format ?? null, delimiter: opts.delimiter ?? null, encoding: opts.encoding ?? 'utf8', onInvalidRecord: opts.onInvalidRecord };
}

/**
 * The options with `templateFile` read into `prompt`, once per call: the prompt hashed into the job directory's name
 * and the one stored are then the same text even if the file is edited meanwhile.
 * @throws KbatchError INPUT_NOT_FOUND when the file cannot be read
 */
export async function readTemplate(opts: ResolvedRunJobOptions, cwd: string): Promise<ResolvedRunJobOptions> {
  if (opts.templateFile === undefined) return opts;
  const { templateFile, ...rest } = opts;
  try {
    return { ...rest, prompt: (await readFile(resolve(cwd, templateFile), 'utf8')).replace(/\r?\n$/, '') };
  } catch (cause) {
    throw new KbatchError('INPUT_NOT_FOUND', `cannot read template file "${templateFile}"`, { file: templateFile, cause });
  }
}

// What a new run (or a rerun naming its request) must have, checked after its template file was read.
const RequiredRequestFields = RequestFieldsSchema.pick({ model: true, prompt: true });

/**
 * The request options a run was given (its template file already read by {@link readTemplate}). Their values were
 * validated once by `RunJobOptionsSchema`; only what that could not see is checked here: a model and a non-empty
 * prompt are present (a rerun may omit them, a template file may be empty).
 */
export async function requestOptions(opts: ResolvedRunJobOptions, cwd: string): Promise<Record<string, unknown>> {
  const request: Record<string, unknown> = { model: opts.model, prompt: opts.prompt, system: opts.system, idColumn: opts.idColumn };
  for (const [key] of CHAT_PARAM_FIELDS) request[key] = opts[key];
  for (const key of Object.keys(request)) if (request[key] === undefined) delete request[key];
  parseOptions(RequiredRequestFields, { model: request.model, prompt: request.prompt }, 'runJob');
  return request;
}

/** Where a new run's settings come from besides its options. */
export interface NewRunContext {
  jobDir: string;
  cwd: string;
  schema: AnswerSchema | undefined;
  emit: (e: RunEvent) => void;
  /** The input already located (a file fingerprinted, or a stream saved into the job directory): not read again. */
  spooled?: SpooledInput | undefined;
}

/** Throw unless a new run was given an input and a prompt (before anything is read). */
export function requireInputAndPrompt(opts: ResolvedRunJobOptions): void {
  if (opts.input === undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `input`: must be a path, "-", a Readable or an iterable of records, got nothing', { field: 'input' });
  if (opts.prompt === undefined && opts.templateFile === undefined) {
    throw new KbatchError('OPTION_INVALID', 'Invalid option `prompt`: must be a template (or give `templateFile`), got nothing', { field: 'prompt' });
  }
}

/** The output and rejects paths a run was given (before any job directory exists), for `checkSinkTargets`. */
export function givenSinkTargets(opts: ResolvedRunJobOptions, cwd: string): { output: string | null; rejects: string | null } {
  return {
    output: typeof opts.output === 'string' && opts.output !== '-' ? resolve(cwd, opts.output) : null,
    rejects: typeof opts.rejects === 'string' ? resolve(cwd, opts.rejects) : null,
  };
}

/** Settings of a new run: validated request options, the input spooled (and fingerprinted) if needed (output/rejects are checked by the caller). */
export async function newSettings(given: RunJobOptions, opts: ResolvedRunJobOptions, at: NewRunContext): Promise<RunSettings> {
  const { jobDir, cwd, schema, emit } = at;
  requireInputAndPrompt(opts);
  const request = await requestOptions(opts, cwd);
  const isFile = typeof opts.input === 'string' && opts.input !== '-';
  if (!isFile && !at.spooled) emit({ type: 'phase', phase: 'spool', message: `saving the input records into ${jobDir}` });
  const spooled = at.spooled ?? (await spoolInput(opts.input!, jobDir, { format: opts.format, stdin: opts.stdin, cwd, signal: opts.signal }));
  const output = typeof opts.output === 'string' ? (opts.output === '-' ? '-' : resolve(cwd, opts.output)) : null;
  const provider = jobProvider(opts);
  return {
    input: spooled.path,
    spooled: spooled.spooled,
    ...(spooled.fingerprint ? { inputFingerprint: spooled.fingerprint } : {}),
    format: spooled.format,
    ...(opts.delimiter !== undefined ? { delimiter: opts.delimiter } : {}),
    ...(opts.encoding !== undefined ? { encoding: opts.encoding } : {}),
    onInvalidRecord: opts.onInvalidRecord,
    request,
    ...(opts.labels ? { labels: opts.labels } : {}),
    ...(schema ? { jsonSchema: schema.jsonSchema, schemaKind: typeof opts.schema === 'object' && '_zod' in opts.schema ? ('zod' as const) : ('json' as const) } : {}),
    confidence: opts.confidence ?? (opts.labels !== undefined && opts.logprobs === true),
    ...chunkSettings(opts),
    retries: opts.retries,
    window: opts.window ?? provider.profile.defaultWindow,
    ...(opts.outputExpiresAfter !== undefined ? { outputExpiresAfter: opts.outputExpiresAfter } : {}),
    ...provider.record,
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
    ...(opts.maxEnqueuedTokens !== undefined ? { maxEnqueuedTokens: opts.maxEnqueuedTokens } : {}),
    finishRealtime: opts.finishRealtime ?? false,
    ...(opts.stragglerThreshold !== undefined ? { stragglerThreshold: opts.stragglerThreshold } : {}),
    ...(opts.stragglerWaitMs !== undefined ? { stragglerWaitMs: opts.stragglerWaitMs } : {}),
    ...(opts.gold !== undefined ? { gold: opts.gold } : {}),
    ...(opts.sample !== undefined ? { sample: opts.sample } : {}),
  };
}

/**
 * A run's chunk limits as stored: those given, else the provider's where they differ from the library defaults
 * (so a kluster run stores what it always did), realtime runs 1,000 requests per chunk. A token budget given applies in
 * every mode; the provider's default only to batches (realtime requests are not enqueued).
 */
function chunkSettings(opts: ResolvedRunJobOptions): { maxRequests?: number; maxBytes?: number; maxBatchTokens?: number } {
  const limits = chunkLimits(jobProvider(opts).profile);
  const maxRequests = opts.maxRequests ?? (opts.mode === 'realtime' ? REALTIME_MAX_REQUESTS : limits.maxRequests !== DEFAULT_MAX_REQUESTS ? limits.maxRequests : undefined);
  const maxBytes = opts.maxBytes !== undefined ? parseSize(opts.maxBytes, 'maxBytes') : limits.maxBytes !== DEFAULT_MAX_BYTES ? limits.maxBytes : undefined;
  const maxBatchTokens = opts.maxBatchTokens ?? (opts.mode === 'realtime' ? undefined : limits.maxBatchTokens);
  return { ...(maxRequests !== undefined ? { maxRequests } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}), ...(maxBatchTokens !== undefined ? { maxBatchTokens } : {}) };
}

/** A rerun must describe the same requests (read options, request options, labels, schema); output options may change. */
export async function checkSameRun(settings: RunSettings, opts: ResolvedRunJobOptions, cwd: string, schema: AnswerSchema | undefined): Promise<void> {
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
      `this run read its input from stdin or a stream (saved as ${settings.input}); rerun it with - and the same stdin (or continue it with kbatch resume), or use a new --job-dir for ${opts.input}`,
      { field: 'input', file: resolve(cwd, opts.input) },
    );
  }
  if (opts.model !== undefined || opts.prompt !== undefined || opts.templateFile !== undefined) {
    const request = await requestOptions({ ...opts, model: opts.model ?? (settings.request.model as string) } as ResolvedRunJobOptions, cwd);
    for (const key of new Set([...Object.keys(request), ...Object.keys(settings.request)])) {
      if (JSON.stringify(request[key]) !== JSON.stringify(settings.request[key])) differs(key === 'prompt' ? 'prompt' : `\`${key}\``);
    }
  }
  const [now, was] = [readIdentity(opts), readIdentity(settings)];
  for (const key of ['format', 'delimiter', 'encoding', 'onInvalidRecord'] as const) {
    // A format not given is detected again from the same input; a rerun without input (resume) states only what it changes.
    if (key === 'format' ? opts.format === undefined : opts.input === undefined && (key === 'onInvalidRecord' || opts[key] === undefined)) continue;
    if (now[key] !== was[key]) differs(`\`${key}\``);
  }
  if (opts.labels !== undefined && JSON.stringify(opts.labels) !== JSON.stringify(settings.labels)) differs('labels');
  // A rerun naming its input must name the same sample (none for a full run); a resume (no input) keeps the stored one.
  if ((opts.input !== undefined || opts.sample !== undefined) && JSON.stringify(opts.sample ?? null) !== JSON.stringify(settings.sample ?? null)) differs('sample (--sample, --sample-seed, --stratify)');
  if (opts.schema !== undefined && JSON.stringify(schema?.jsonSchema) !== JSON.stringify(settings.jsonSchema)) differs('schema');
}

/**
 * A rerun given stdin (or a stream, or records) must give the bytes the run saved: other bytes would be joined onto
 * the old answers. An empty stdin is other bytes too (`grep` that matched nothing); only no stdin at all (a terminal,
 * or `kbatch resume`) continues from the saved copy.
 * @param fresh - the rerun's input as spooled (its fingerprint), or null when none was read
 * @throws KbatchError JOB_MISMATCH
 */
export function checkSameStream(settings: RunSettings, fresh: SpooledInput | null, jobDir?: string): void {
  if (fresh === null || !fresh.spooled || fresh.fingerprint === undefined) return;
  const saved = settings.inputFingerprint;
  if (settings.spooled && saved?.sha256 === fresh.fingerprint.sha256) return;
  if (fresh.fingerprint.size === 0) {
    throw new KbatchError(
      'JOB_MISMATCH',
      `stdin was empty, but the job directory holds a run of ${settings.spooled ? `${saved?.size ?? '?'} saved bytes` : `the file ${settings.input}`}; to continue that run use: kbatch resume ${jobDir ?? 'JOB_DIR'}`,
      { field: 'input', file: settings.input },
    );
  }
  const what = settings.spooled ? `the input it saved (${settings.input}, ${saved?.size ?? '?'} bytes; now ${fresh.fingerprint.size} bytes, other content)` : `its input file ${settings.input}`;
  throw new KbatchError(
    'JOB_MISMATCH',
    `the job directory holds a run of other input than this stdin: it read ${what}; its answers would be joined onto the wrong records — rerun with the same input, or use a new --job-dir`,
    { field: 'input', file: settings.input },
  );
}

/**
 * True while a run has sent nothing that costs money: not prepared yet, or prepared with no upload started, no
 * realtime request and no retry round. Such a run may be started over with other options.
 */
export async function nothingSent(store: JobStore, state: RunState): Promise<boolean> {
  if (state.phase === 'init') return true;
  if (state.phase !== 'prepared' || state.rounds.length > 0 || state.stragglers.length > 0) return false;
  if (state.mode === 'realtime' && (await stat(join(store.dir, 'realtime')).catch(() => null)) !== null) return false;
  const manifest = state.chunks.length === 0 ? null : await store.readManifest().catch(() => undefined);
  if (manifest === undefined) return false;
  return !manifest?.parts.some((p) => p.uploadStartedAt !== undefined || p.fileId !== undefined || p.createStartedAt !== undefined || p.batchId !== undefined);
}

/** Output options given on a rerun replace the stored ones (the answers are joined again on every rerun). */
export function applyOutputOverrides(settings: RunSettings, opts: ResolvedRunJobOptions, cwd: string): void {
  if (typeof opts.output === 'string') {
    settings.output = opts.output === '-' ? '-' : resolve(cwd, opts.output);
    settings.outputFormat = resolveOutputFormat(opts.outputFormat, settings.output);
  } else if (opts.outputFormat !== undefined) settings.outputFormat = opts.outputFormat;
  if (typeof opts.rejects === 'string') settings.rejects = resolve(cwd, opts.rejects);
  if (opts.prefix !== undefined) settings.prefix = opts.prefix;
  if (opts.keepRaw !== undefined) settings.keepRaw = opts.keepRaw;
  if (opts.gold !== undefined) settings.gold = opts.gold;
}

/**
 * A rerun may change the completion window until a batch create was attempted (the manifest's window is
 * what batches are created with), so a run stuck on a window the API refuses can be fixed in place.
 */
export async function overrideWindow(store: JobStore, state: RunState, window: string): Promise<void> {
  const manifest = state.phase === 'init' ? null : await store.readManifest().catch(() => null);
  if (manifest?.parts.some((p) => p.createStartedAt !== undefined || p.batchId !== undefined)) {
    throw new KbatchError(
      'JOB_MISMATCH',
      `the job directory's batches were already created with window ${manifest.window}; rerun without --window ${window} to continue it, or use a new --job-dir`,
      { field: 'window' },
    );
  }
  state.settings.window = window;
  if (manifest && manifest.window !== window) await store.writeManifest({ ...manifest, window });
}

/** Realtime settings (and the shared quota's limit) given on a rerun replace the stored ones; the mode only until it is settled. */
export function applyRealtimeOverrides(state: RunState, given: RunJobOptions, opts: ResolvedRunJobOptions): void {
  const settings = state.settings;
  if (given.rpm !== undefined) settings.rpm = opts.rpm;
  if (given.tpm !== undefined) settings.tpm = opts.tpm;
  if (given.requestRetries !== undefined) settings.requestRetries = opts.requestRetries;
  if (given.requestTimeoutMs !== undefined) settings.requestTimeoutMs = opts.requestTimeoutMs;
  if (given.concurrency !== undefined) settings.concurrency = opts.concurrency;
  if (given.maxEnqueuedTokens !== undefined) settings.maxEnqueuedTokens = opts.maxEnqueuedTokens;
  if (given.finishRealtime !== undefined) settings.finishRealtime = opts.finishRealtime ?? false;
  if (given.stragglerThreshold !== undefined) settings.stragglerThreshold = opts.stragglerThreshold;
  if (given.stragglerWaitMs !== undefined) settings.stragglerWaitMs = opts.stragglerWaitMs;
  if (state.mode === undefined) {
    if (given.mode !== undefined) settings.mode = opts.mode;
    if (given.autoThreshold !== undefined) settings.autoThreshold = opts.autoThreshold;
  } else if (given.mode !== undefined && given.mode !== 'auto' && given.mode !== state.mode) {
    opts.onWarning?.(`this run already runs in ${state.mode} mode (kept; --mode ${given.mode} applies to new runs only)`);
  }
}
