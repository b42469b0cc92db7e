// The parent job of a several-model run: which models, where its input lives, and the options its sub-jobs share.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { parseStateFile } from '../state/state-file.js';
import { writeJsonAtomic } from '../internal/write-json-atomic.js';
import type { RunJobOptions } from '../run/run-options.js';

/** The parent job's state file: the source of truth for its models (each sub-job keeps its own run.json). */
export const MODELS_STATE_FILE = 'models.json';
/** Where the sub-jobs live: `<jobDir>/models/<ALIAS>/`. */
export const MODELS_DIR = 'models';

const ModelsStateSchema = z.object({
  version: z.literal(1),
  kind: z.literal('kbatch-models'),
  createdAt: z.string(),
  models: z.array(z.object({ model: z.string().min(1), alias: z.string().min(1) })).min(2),
  /** The input every sub-job reads: the given file, or the stream saved into the parent job. */
  input: z.object({ path: z.string(), format: z.enum(['csv', 'tsv', 'jsonl', 'json']), spooled: z.boolean(), sha256: z.string().nullable() }),
  /** The options of the first call that can be written down (no client, streams or functions): a resume starts a sub-job not yet begun with them. */
  options: z.record(z.string(), z.unknown()),
  /** Where the combined rows go (null: `<jobDir>/output.<format>`), and the rejects file. */
  output: z.string().nullable(),
  outputFormat: z.enum(['jsonl', 'csv', 'tsv', 'json']),
  rejects: z.string().nullable(),
});

/** The parent job's state (see {@link MODELS_STATE_FILE}). */
export type ModelsState = z.output<typeof ModelsStateSchema>;

/** The parent job's state, or null when `jobDir` holds none. */
export async function readModelsState(jobDir: string): Promise<ModelsState | null> {
  const file = join(jobDir, MODELS_STATE_FILE);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
    throw err;
  });
  return text === null ? null : parseStateFile(file, text, ModelsStateSchema, 'several-model job');
}

/** Write the parent's state atomically (before any sub-job sends anything). */
export async function writeModelsState(jobDir: string, state: ModelsState): Promise<void> {
  await writeJsonAtomic(join(jobDir, MODELS_STATE_FILE), state);
}

/** True when `jobDir` is the parent job of a several-model run. */
export async function isModelsJob(jobDir: string): Promise<boolean> {
  return (await readModelsState(jobDir).catch(() => null)) !== null;
}

// Per call, never stored: where the input and outputs are, the capabilities, and this call's limits.
const NOT_KEPT = new Set(['input', 'output', 'rejects', 'stdout', 'stdin', 'jobDir', 'models', 'model', 'client', 'signal', 'timeoutMs', 'dryRun', 'cache']);

/** The given options that can be written to JSON and define the sub-jobs' requests (a zod schema is not kept: give it again). */
export function keptOptions(given: RunJobOptions): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (NOT_KEPT.has(key) || value === undefined || !isPlain(value)) continue;
    kept[key] = value;
  }
  return kept;
}

function isPlain(value: unknown): boolean {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return true;
  if (Array.isArray(value)) return value.every(isPlain);
  if (typeof value !== 'object' || value instanceof Readable || value instanceof Writable) return false;
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && Object.values(value as object).every(isPlain);
}

/** A several-model job's sub-jobs (model, alias, directory), or null when `jobDir` is not one (for `kbatch status`/`results`). */
export async function modelJobs(jobDir: string): Promise<Array<{ model: string; alias: string; jobDir: string }> | null> {
  const state = await readModelsState(jobDir);
  return state === null ? null : state.models.map(({ model, alias }, i) => ({ model, alias, jobDir: modelJobDir(jobDir, alias, i) }));
}

/**
 * A model's sub-job directory: `<jobDir>/models/<ALIAS>`, or `models/_<n>` (n from 1) for an alias that is not a plain
 * file name (`..`, `:`, spaces), so no model id can point its job outside the parent.
 */
export function modelJobDir(jobDir: string, alias: string, index: number): string {
  return join(jobDir, MODELS_DIR, /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(alias) ? alias : `_${index + 1}`);
}
