import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import { Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KbatchError } from '../errors.js';
import type { JoinPlan } from '../join/join-plan.js';
import { outputStream } from '../output/output-stream.js';
import { resolveOutputFormat, type OutputFormat } from '../output/output-format.js';
import type { RunRow } from './join-run.js';
import type { ResolvedRunJobOptions, RunSummary } from './run-options.js';
import type { RunSettings } from './run-state.js';

/** Where a run's rows go: a path (`-` = the `stdout` option), a caller's Writable, or nowhere. */
export interface SinkTargets {
  output: string | Writable | null;
  rejects: string | Writable | null;
}

/** The run's output and rejects targets (default output `<jobDir>/output.<format>` unless rows are yielded). */
export function sinkTargets(opts: ResolvedRunJobOptions, settings: RunSettings, jobDir: string, emitRows: boolean): SinkTargets {
  let output: string | Writable | null = opts.output instanceof Writable ? opts.output : settings.output;
  if (output === null && !emitRows) output = join(jobDir, `output.${settings.outputFormat}`);
  return { output, rejects: opts.rejects instanceof Writable ? opts.rejects : settings.rejects };
}

/** Temp file next to `path` (same directory, so the final rename is atomic). */
function tempOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
}

/**
 * Make sure the output and rejects files can be written before anything is sent (and paid for): create
 * their directories and open a temp file beside each.
 * @throws KbatchError OPTION_INVALID naming the option and the file
 */
export async function checkSinkTargets(targets: SinkTargets): Promise<void> {
  for (const [field, target] of [['output', targets.output], ['rejects', targets.rejects]] as const) {
    if (typeof target !== 'string' || target === '-') continue;
    try {
      await mkdir(dirname(target), { recursive: true });
      if ((await stat(target).catch(() => null))?.isDirectory()) throw Object.assign(new Error(`${target} is a directory`), { code: 'EISDIR' });
      const temp = tempOf(target);
      await (await open(temp, 'w')).close();
      await unlink(temp);
    } catch (cause) {
      const reason = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
      throw new KbatchError('OPTION_INVALID', `Invalid option \`${field}\`: must be a writable file path, got "${target}" (${reason})`, { field, file: target, cause });
    }
  }
}

/** The output and rejects writers of a run. */
export interface Sinks {
  write(row: RunRow): Promise<void>;
  /** Finish both files (renamed into place only now, so an interrupted join never leaves a truncated file). */
  end(): Promise<void>;
  /** Stop writing and remove the temp files. */
  destroy(): Promise<void>;
  outputs: RunSummary['outputs'];
}

interface Writer {
  stream: Transform;
  done: Promise<void>;
  /** Aborted once `done` settles. */
  over: AbortSignal;
  temp: string | null;
  target: string | null;
}

/** Open the output and rejects writers (format streams with backpressure; files through a temp file + rename). */
export function openSinks(targets: SinkTargets, opts: ResolvedRunJobOptions, settings: RunSettings, plan: JoinPlan): Sinks {
  const stdout = opts.stdout ?? process.stdout;
  const columns = [...plan.columns];
  const keepWhole = plan.rawField ? [plan.rawField] : [];
  const openWriter = (target: string | Writable, format: OutputFormat, extra: string[] = []): Writer => {
    const file = typeof target === 'string' && target !== '-' ? target : null;
    const temp = file === null ? null : tempOf(file);
    const sink = target === '-' ? stdout : temp !== null ? createWriteStream(temp) : (target as Writable);
    const stream = outputStream({ format, columns: [...columns, ...extra], keepWhole, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
    // Never end a sink we did not open (stdout, a caller's Writable).
    const done = pipeline(stream, sink, { end: temp !== null });
    done.catch(() => {});
    // One listener ends every wait for 'drain' once the pipeline is over (racing `done` at each wait would pile reactions on it).
    const over = new AbortController();
    void done.finally(() => over.abort()).catch(() => {});
    return { stream, done, over: over.signal, temp, target: file };
  };
  const out = targets.output === null ? null : openWriter(targets.output, settings.outputFormat);
  // A skipped malformed record's source text is kept in the rejects (declared, so a CSV rejects file has the column).
  const rawLine = plan.name('raw_line');
  const rej =
    targets.rejects === null
      ? null
      : openWriter(targets.rejects, resolveOutputFormat(undefined, typeof targets.rejects === 'string' ? targets.rejects : undefined), settings.onInvalidRecord === 'skip' ? [rawLine] : []);
  const put = async (w: Writer, row: Record<string, unknown>) => {
    if (w.stream.write(row)) return;
    await once(w.stream, 'drain', { signal: w.over }).catch((err: unknown) => {
      if (!w.over.aborted) throw err;
    });
    if (w.over.aborted) await w.done; // the pipeline failed (its error) or ended
  };
  return {
    async write(row) {
      if (out) await put(out, row.row);
      if (rej && row.status !== 'succeeded') await put(rej, row.rawLine === undefined ? row.row : { ...row.row, [rawLine]: row.rawLine });
    },
    async end() {
      for (const w of [out, rej]) {
        if (!w) continue;
        w.stream.end();
        await w.done;
      }
      for (const w of [out, rej]) if (w?.temp && w.target) await rename(w.temp, w.target);
    },
    async destroy() {
      for (const w of [out, rej]) {
        if (!w) continue;
        w.stream.destroy();
        await w.done.catch(() => {});
        if (w.temp) await unlink(w.temp).catch(() => {});
      }
    },
    outputs: {
      output: typeof targets.output === 'string' ? targets.output : null,
      rejects: typeof targets.rejects === 'string' ? targets.rejects : null,
    },
  };
}
