// The parent job of a several-model run: its directory (given or derived), its lock, and its state (models, input).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KbatchError } from '../errors.js';
import { acquireJobLock, type JobLock } from '../state/lock.js';
import { makeDir } from '../internal/make-dir.js';
import { resolveOutputFormat } from '../output/output-format.js';
import { fingerprintFile } from '../run/input-fingerprint.js';
import { deriveJobDir, dropStagedInput, isStaged, placeStagedInput } from '../run/run-identity.js';
import { givenSinkTargets, requireInputAndPrompt, resolveSchema } from '../run/run-settings.js';
import { spoolInput, type SpooledInput } from '../run/spool-input.js';
import type { ResolvedRunJobOptions, RunEvent, RunJobOptions } from '../run/run-options.js';
import { hasRunState } from '../state/run-state.js';
import { keptOptions, readModelsState, writeModelsState, type ModelsState } from './models-state.js';

/** The parent job, opened for this call (its lock held until `lock.release()`). */
export interface OpenedParent {
  jobDir: string;
  state: ModelsState;
  lock: JobLock;
  resumed: boolean;
}

/** What {@link openParent} needs besides the options. */
export interface ParentContext {
  cwd: string;
  models: readonly string[];
  aliases: readonly string[];
  emit: (event: RunEvent) => void;
}

/**
 * Find (or make) the parent job and lock it: the given job directory, else one derived as a single run's is (from
 * the input's bytes and the request options, all models included), so the same command finds it again. A new parent
 * records its models and input before any sub-job starts; a rerun must name the same models and input.
 * @throws KbatchError JOB_MISMATCH (other models or other input bytes than the job's), JOB_LOCKED
 */
export async function openParent(given: RunJobOptions, opts: ResolvedRunJobOptions, at: ParentContext): Promise<OpenedParent> {
  const derived = opts.jobDir === undefined ? await deriveJobDir({ ...opts, model: `models:${JSON.stringify(at.models)}` }, at.cwd, await resolveSchema(opts, null, at.cwd), at.emit) : null;
  const jobDir = derived?.jobDir ?? resolve(at.cwd, opts.jobDir!);
  let staged: SpooledInput | null = derived && isStaged(derived.input) ? derived.input : null;
  let lock: JobLock | null = null;
  try {
    await makeDir(jobDir, 'job directory');
    lock = await acquireJobLock(jobDir);
    const located = derived?.input ?? (await givenInput(opts, jobDir, at.cwd));
    if (isStaged(located)) staged = located;
    const stored = await readModelsState(jobDir);
    if (stored !== null) {
      await checkSameParent(stored, { models: at.models, input: located, jobDir });
      return { jobDir, state: stored, lock, resumed: true };
    }
    if (await hasRunState(jobDir)) throw new KbatchError('JOB_MISMATCH', `${jobDir} is the job of a single-model run: give another job directory for several models`, { file: jobDir });
    if (located === null) requireInputAndPrompt(opts);
    const input = isStaged(located) ? await placeStagedInput(located, jobDir) : located!;
    staged = null;
    const state = newParentState(given, opts, input, at);
    await writeModelsState(jobDir, state);
    return { jobDir, state, lock, resumed: false };
  } catch (err) {
    await lock?.release();
    throw err;
  } finally {
    if (staged !== null) await dropStagedInput(staged);
  }
}

function newParentState(given: RunJobOptions, opts: ResolvedRunJobOptions, input: SpooledInput, at: ParentContext): ModelsState {
  const { output } = givenSinkTargets(opts, at.cwd);
  return {
    version: 1,
    kind: 'kbatch-models',
    createdAt: new Date().toISOString(),
    models: at.models.map((model, i) => ({ model, alias: at.aliases[i]! })),
    input: { path: input.path, format: input.format, spooled: input.spooled, sha256: input.fingerprint?.sha256 ?? null },
    // Relative paths (template, schema) are read from the first call's directory on a resume.
    options: { ...keptOptions(given), cwd: at.cwd },
    output: opts.output === '-' ? '-' : output,
    outputFormat: resolveOutputFormat(opts.outputFormat, output ?? (typeof opts.output === 'string' ? opts.output : undefined)),
    rejects: givenSinkTargets(opts, at.cwd).rejects,
  };
}

/** The input this call gives with a job directory: a file where it is, a stream saved into a staging directory; null for none. */
async function givenInput(opts: ResolvedRunJobOptions, jobDir: string, cwd: string): Promise<SpooledInput | null> {
  if (opts.input === undefined) return null;
  // A terminal is not input: `kbatch resume` or a rerun typed without a pipe must not wait for keystrokes.
  if (opts.input === '-' && ((opts.stdin ?? process.stdin) as { isTTY?: boolean }).isTTY === true) return null;
  if (typeof opts.input === 'string' && opts.input !== '-') return spoolInput(opts.input, jobDir, { format: opts.format, cwd });
  const staging = join(jobDir, `.incoming-${process.pid}`);
  await mkdir(staging, { recursive: true });
  return spoolInput(opts.input, staging, { format: opts.format, stdin: opts.stdin, cwd, signal: opts.signal });
}

/** A rerun names the parent's models, in order, and gives its input bytes (or none). */
async function checkSameParent(stored: ModelsState, fresh: { models: readonly string[]; input: SpooledInput | null; jobDir: string }): Promise<void> {
  const storedModels = stored.models.map((m) => m.model);
  if (JSON.stringify(storedModels) !== JSON.stringify(fresh.models)) {
    throw new KbatchError('JOB_MISMATCH', `job ${fresh.jobDir} runs the models ${storedModels.join(', ')}, not ${fresh.models.join(', ')}; give another job directory`, { file: fresh.jobDir });
  }
  const input = fresh.input;
  if (input === null || input.path === stored.input.path) return;
  const sha256 = input.fingerprint?.sha256 ?? (await fingerprintFile(input.path)).sha256;
  if (sha256 !== (stored.input.sha256 ?? (await fingerprintFile(stored.input.path)).sha256)) {
    throw new KbatchError('JOB_MISMATCH', `job ${fresh.jobDir} was started on other input bytes (${stored.input.path}); give another job directory`, { file: fresh.jobDir });
  }
}
