import { createWriteStream } from 'node:fs';
import { mkdir, open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { Writable } from 'node:stream';
import { KbatchError } from '../errors.js';
import type { JoinPlan } from '../join/join-plan.js';
import { rowFormat } from '../output/output-stream.js';
import type { RowFormat } from '../output/row-format.js';
import { textWriter, type TextWriter } from '../output/text-writer.js';
import { resolveOutputFormat, type OutputFormat } from '../output/output-format.js';
import type { JoinedRow } from '../join/skipped-rows.js';
import type { ResolvedRunJobOptions, RunSummary } from './run-options.js';
import type { RunSettings } from '../state/run-state.js';

/** Where a run's rows go: a path (`-` = the `stdout` option), a caller's Writable, or nowhere. */
export interface SinkTargets {
  output: string | Writable | null;
  rejects: string | Writable | null;
}

/** The run's output and rejects targets (default output `<jobDir>/output.<format>` unless rows are yielded). */
export function sinkTargets(opts: Pick<ResolvedRunJobOptions, 'output' | 'rejects'>, settings: Pick<RunSettings, 'output' | 'outputFormat' | 'rejects'>, jobDir: string, emitRows: boolean): SinkTargets {
  let output: string | Writable | null = opts.output instanceof Writable ? opts.output : settings.output;
  if (output === null && !emitRows) output = join(jobDir, `output.${settings.outputFormat}`);
  return { output, rejects: opts.rejects instanceof Writable ? opts.rejects : settings.rejects };
}

/** Temp file next to `path` (same directory, so the final rename is atomic). */
function tempOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
}

/** What the output and rejects must not overwrite, and where to say that a directory was created. */
export interface SinkGuard {
  /** The run's input file (absolute). */
  input?: string | null;
  /** The job directory: its own files (state, manifest, saved input, chunks) are not outputs. */
  jobDir?: string;
  /** Told when the last level of an output's directory was created. */
  notify?: (message: string) => void;
}

/**
 * Make sure the output and rejects files can be written before anything is sent (and paid for): their directory
 * exists (only its last level is created, and said), they are not the input, a file of the job or each other, and a temp
 * file can be opened beside each.
 * @throws KbatchError OPTION_INVALID naming the option and the file (a bad value: the input, a job file, the output
 *   as rejects, a directory); OUTPUT_UNWRITABLE when the file system refuses it (missing tree, EACCES, EROFS, ENOSPC)
 */
export async function checkSinkTargets(targets: SinkTargets, guard: SinkGuard = {}): Promise<void> {
  for (const [field, target] of [['output', targets.output], ['rejects', targets.rejects]] as const) {
    if (typeof target !== 'string' || target === '-') continue;
    // A bad value (the input, a job file, a directory) is bad usage; a file system that refuses the path is not.
    const invalid = (reason: string, cause?: unknown): never => {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`${field}\`: must be a writable file path, got "${target}" (${reason})`, { field, file: target, cause });
    };
    const unwritable = (reason: string, cause?: unknown): never => {
      throw new KbatchError('OUTPUT_UNWRITABLE', `cannot write the ${field} file "${target}" (${reason})`, { field, file: target, cause });
    };
    await ensureParent(dirname(target), (reason) => unwritable(reason), (dir) => guard.notify?.(`created the directory ${dir} for the ${field} file`));
    const clash = await clashWith(target, guard);
    if (clash) invalid(clash);
    // Both writers would share one temp file and one target: the rows of one would be lost after the batches were paid.
    const output = targets.output;
    if (field === 'rejects' && typeof output === 'string' && output !== '-' && (await realPath(output)) === (await realPath(target))) invalid(`it is the output file ${output}`);
    if ((await stat(target).catch(() => null))?.isDirectory()) invalid(`${target} is a directory`);
    try {
      const temp = tempOf(target);
      await (await open(temp, 'w')).close();
      await unlink(temp);
    } catch (cause) {
      unwritable((cause as NodeJS.ErrnoException).code ?? (cause as Error).message, cause);
    }
  }
}

/**
 * The output's directory must exist; only its last level is created (never a whole tree: a typo should not make
 * one, and Node's recursive mkdir spins on a path under /proc).
 */
async function ensureParent(dir: string, invalid: (reason: string) => never, created: (dir: string) => void): Promise<void> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (!(info instanceof Error)) {
    if (!info.isDirectory()) invalid(`${dir} is not a directory`);
    return;
  }
  if (info.code !== 'ENOENT') invalid(`${dir}: ${info.code ?? info.message}`);
  const parent = await stat(dirname(dir)).catch(() => null);
  if (!parent?.isDirectory()) invalid(`the directory ${dir} does not exist, nor does its parent ${dirname(dir)}; kbatch creates only the last level`);
  try {
    await mkdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') invalid(`cannot create the directory ${dir}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`);
    return;
  }
  created(dir);
}

/** Why writing `target` would destroy the run's input or one of the job's own files, or null. */
async function clashWith(target: string, guard: SinkGuard): Promise<string | null> {
  const real = await realPath(target);
  if (guard.input) {
    const input = await realPath(guard.input);
    const [a, b] = await Promise.all([stat(target).catch(() => null), stat(guard.input).catch(() => null)]);
    if (real === input || (a && b && a.dev === b.dev && a.ino === b.ino)) return `it is the input file ${guard.input}`;
  }
  if (guard.jobDir) {
    const rel = relative(await realPath(guard.jobDir), real);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && (rel.includes(sep) || JOB_FILE.test(rel))) return `it is a file of the job directory ${guard.jobDir}`;
  }
  return null;
}

/** Names kbatch keeps at the top of a job directory (its own output.<format> may go there). */
const JOB_FILE = /^(run\.json|manifest\.json|models\.json|job\.lock|cancel-requested|input\..*)$/;

/** `path` with its symlinks resolved (the deepest existing ancestor's real path, plus the rest). */
async function realPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await realPath(parent), basename(path));
  }
}

/** The output and rejects writers of a run. */
export interface Sinks {
  /** Write a batch of rows (one write per file, as bytes gathered in blocks). */
  write(rows: readonly JoinedRow[]): Promise<void>;
  /** Finish both files (renamed into place only now, so an interrupted join never leaves a truncated file). */
  end(): Promise<void>;
  /** Stop writing and remove the temp files. */
  destroy(): Promise<void>;
  outputs: RunSummary['outputs'];
}

interface Writer {
  format: RowFormat;
  text: TextWriter;
  temp: string | null;
  target: string | null;
}

/** The columns a sink declares: a join plan's, or several models' side by side (each raw field kept whole). */
export type SinkPlan = Pick<JoinPlan, 'columns' | 'rawField' | 'name'> & { keepWhole?: readonly string[] };

/** Open the output and rejects writers (rows formatted and written with backpressure; files through a temp file + rename). */
export function openSinks(targets: SinkTargets, opts: Pick<ResolvedRunJobOptions, 'stdout' | 'onWarning'>, settings: Pick<RunSettings, 'outputFormat' | 'onInvalidRecord'>, plan: SinkPlan): Sinks {
  const stdout = opts.stdout ?? process.stdout;
  const columns = [...plan.columns];
  const keepWhole = plan.keepWhole ? [...plan.keepWhole] : plan.rawField ? [plan.rawField] : [];
  const openWriter = (target: string | Writable, format: OutputFormat, extra: string[] = []): Writer => {
    const file = typeof target === 'string' && target !== '-' ? target : null;
    const temp = file === null ? null : tempOf(file);
    const sink = target === '-' ? stdout : temp !== null ? createWriteStream(temp) : (target as Writable);
    // Never end a sink we did not open (stdout, a caller's Writable); only our own file lets its blocks be reused.
    const text = textWriter(sink, { end: temp !== null, reuse: temp !== null });
    const rows = rowFormat({ format, columns: [...columns, ...extra], keepWhole, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
    return { format: rows, text, temp, target: file };
  };
  const out = targets.output === null ? null : openWriter(targets.output, settings.outputFormat);
  // A skipped malformed record's source text is kept in the rejects (declared, so a CSV rejects file has the column).
  const rawLine = plan.name('raw_line');
  const rej =
    targets.rejects === null
      ? null
      : openWriter(targets.rejects, resolveOutputFormat(undefined, typeof targets.rejects === 'string' ? targets.rejects : undefined), settings.onInvalidRecord === 'skip' ? [rawLine] : []);
  return {
    async write(rows) {
      for (const r of rows) {
        if (out) out.text.put(out.format.row(r.row));
        if (rej && r.status !== 'succeeded') rej.text.put(rej.format.row(r.rawLine === undefined ? r.row : { ...r.row, [rawLine]: r.rawLine }));
      }
      if (out) await out.text.flush();
      if (rej) await rej.text.flush();
    },
    async end() {
      for (const w of [out, rej]) {
        if (!w) continue;
        w.text.put(w.format.end());
        await w.text.end();
      }
      for (const w of [out, rej]) if (w?.temp && w.target) await rename(w.temp, w.target);
    },
    async destroy() {
      for (const w of [out, rej]) {
        if (!w) continue;
        await w.text.destroy();
        if (w.temp) await unlink(w.temp).catch(() => {});
      }
    },
    outputs: {
      output: typeof targets.output === 'string' ? targets.output : null,
      rejects: typeof targets.rejects === 'string' ? targets.rejects : null,
    },
  };
}
