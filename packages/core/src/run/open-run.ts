// A run's state at the start of a call: a new one, the one a rerun continues, or one started over.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isKbatchError } from '../errors.js';
import type { AnswerSchema } from '../answers/answer-schema.js';
import type { JobStore } from '../state/job-store.js';
import { checkInputUnchanged } from './input-fingerprint.js';
import { dropStagedInput, isStaged, placeStagedInput } from './run-identity.js';
import type { ResolvedRunJobOptions, RunEvent, RunJobOptions } from './run-options.js';
import { applyOutputOverrides, applyRealtimeOverrides, checkSameRun, checkSameStream, newSettings, nothingSent, overrideWindow, resolveSchema } from './run-settings.js';
import type { RunState } from '../state/run-state.js';
import { spoolInput, type SpooledInput } from './spool-input.js';
import { namedProvider } from '../providers/job-provider.js';
import { checkRecordedProvider } from '../providers/resolve-provider.js';

/** What {@link openRun} needs besides the options. */
export interface OpenRunContext {
  jobDir: string;
  /** Where the run state and the job's manifest are read and written. */
  store: JobStore;
  cwd: string;
  emit: (e: RunEvent) => void;
  /** The input as located before the job directory was known (derived job directories), else null. */
  located: SpooledInput | null;
}

/** The run's state for this call, its answer schema, and whether it continues an earlier call. */
export interface OpenedRun {
  state: RunState;
  schema: AnswerSchema | undefined;
  resumed: boolean;
}

/**
 * Load the job directory's run and check that this call describes the same requests (and, for stdin, the same
 * bytes); a run that differs is JOB_MISMATCH, unless it has sent nothing yet: then it is started over with the new
 * options. A new run gets its settings (the input saved or fingerprinted). Call with the job's lock held.
 */
export async function openRun(given: RunJobOptions, opts: ResolvedRunJobOptions, at: OpenRunContext): Promise<OpenedRun> {
  const { jobDir, store, cwd, emit } = at;
  let input = at.located;
  // Whatever was staged is dropped at the end, even when `input` is pointed elsewhere (the saved copy).
  let staged = isStaged(input) ? input : null;
  try {
    const state = await store.readRunState();
    if (state !== null && input !== null && !input.spooled && !state.settings.spooled && input.path !== state.settings.input && input.fingerprint !== undefined && input.fingerprint.sha256 === state.settings.inputFingerprint?.sha256) {
      // A derived job found by its hash: the same bytes under a new name (a moved file) are this run's input now.
      state.settings.input = input.path;
      state.settings.inputFingerprint = input.fingerprint;
      await store.writeRunState(state);
    }
    if (state !== null) {
      // Read before any decision: other bytes on stdin must not be joined onto this run's answers.
      input ??= await stageStream(opts, jobDir);
      if (isStaged(input)) staged = input;
      const schema = await resolveSchema(opts, state, cwd);
      if (await continues(state, opts, { store, cwd, schema, input })) {
        await applyOverrides(state, given, opts, { store, cwd });
        emit({ type: 'phase', phase: 'continue', message: await continuing(store, state) });
        return { state, schema, resumed: true };
      }
      emit({ type: 'phase', phase: 'continue', message: `job ${jobDir} had sent nothing yet: starting it over with the new options` });
      await store.removeManifest();
      // Only a rerun given no input at all (a terminal) falls back to the saved stream: an empty stdin or a new file is new input.
      const newFile = typeof opts.input === 'string' && opts.input !== '-';
      if (state.settings.spooled && !newFile && input === null) {
        // No input given: start over from the input this run saved.
        input = { path: state.settings.input, format: state.settings.format, spooled: true, ...(state.settings.inputFingerprint ? { fingerprint: state.settings.inputFingerprint } : {}) };
      } else if (state.settings.spooled) await rm(state.settings.input, { force: true });
    }
    if (isStaged(input)) {
      input = await placeStagedInput(input, jobDir);
      staged = null;
    }
    const schema = await resolveSchema(opts, null, cwd);
    const settings = await newSettings(given, opts, { jobDir, cwd, schema, emit, spooled: input ?? undefined });
    const now = new Date().toISOString();
    const fresh: RunState = { version: 1, kind: 'kbatch-run', createdAt: now, updatedAt: now, settings, phase: 'init', chunks: [], recordsRead: 0, skipped: 0, rounds: [], stragglers: [], retriesDone: false };
    await store.writeRunState(fresh);
    return { state: fresh, schema, resumed: false };
  } finally {
    if (staged !== null) await dropStagedInput(staged);
  }
}

/** A rerun's stdin (or stream, or records) saved into a staging directory of the job, to compare it; null when none is given. */
async function stageStream(opts: ResolvedRunJobOptions, jobDir: string): Promise<SpooledInput | null> {
  if (opts.input === undefined || (typeof opts.input === 'string' && opts.input !== '-')) return null;
  // A terminal is not input: `kbatch run - --job-dir J` typed to continue a run must not wait for keystrokes.
  if (opts.input === '-' && ((opts.stdin ?? process.stdin) as { isTTY?: boolean }).isTTY === true) return null;
  if (opts.input instanceof Readable && opts.input.readableEnded) return null;
  const staging = join(jobDir, `.incoming-${process.pid}`);
  await mkdir(staging, { recursive: true });
  return spoolInput(opts.input, staging, { format: opts.format, stdin: opts.stdin, cwd: jobDir, signal: opts.signal });
}

/** True when the stored run is the one this call describes; false when it differs but has sent nothing (start over). */
async function continues(state: RunState, opts: ResolvedRunJobOptions, at: { store: JobStore; cwd: string; schema: AnswerSchema | undefined; input: SpooledInput | null }): Promise<boolean> {
  try {
    // Its batches and files live on the recorded provider: another one could not find them.
    checkRecordedProvider(state.settings.provider, namedProvider(opts), at.store.dir);
    await checkSameRun(state.settings, opts, at.cwd, at.schema);
    checkSameStream(state.settings, at.input, at.store.dir);
    // Before anything more is sent for it: a changed input file dooms the join.
    if (state.settings.inputFingerprint && state.phase !== 'joined') await checkInputUnchanged(state.settings.input, state.settings.inputFingerprint);
    return true;
  } catch (err) {
    if (isKbatchError(err) && err.code === 'JOB_MISMATCH' && (await nothingSent(at.store, state))) return false;
    throw err;
  }
}

/** Output, retry, realtime and window options given on a rerun replace the stored ones. */
async function applyOverrides(state: RunState, given: RunJobOptions, opts: ResolvedRunJobOptions, at: { store: JobStore; cwd: string }): Promise<void> {
  applyOutputOverrides(state.settings, opts, at.cwd);
  if (opts.retries !== state.settings.retries && given.retries !== undefined) {
    state.settings.retries = opts.retries;
    if (state.rounds.length < opts.retries) state.retriesDone = false;
  }
  applyRealtimeOverrides(state, given, opts);
  if (opts.window !== undefined && opts.window !== state.settings.window) await overrideWindow(at.store, state, opts.window);
  await at.store.writeRunState(state);
}

/** What a rerun says on stderr: the job it continues, when it started, and what it already paid for. */
async function continuing(store: JobStore, state: RunState): Promise<string> {
  const jobDir = store.dir;
  const manifest = state.chunks.length > 0 ? await store.readManifest().catch(() => null) : null;
  const batches = manifest?.parts.filter((p) => p.batchId !== undefined).length ?? 0;
  const created = `${batches} ${batches === 1 ? 'batch' : 'batches'} already created`;
  if (state.phase === 'joined') return `job ${jobDir} already finished (started ${state.createdAt}; ${created}): writing its saved results again`;
  return `continuing job ${jobDir} (started ${state.createdAt}; ${created})`;
}
