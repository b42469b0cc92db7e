import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Spend } from '../cost/spend-types.js';
import { loadManifest, type JobManifest, type JobPart } from '../state/manifest.js';
import { loadRunState } from '../state/run-state.js';
import { SPEND_FILE } from '../run/run-job.js';
import type { TimelineBatch } from './report-data.js';

/** The evaluation `run --gold` leaves in the job directory (the object `eval --json` prints). */
export const EVAL_FILE = 'eval.json';

/** What a job directory tells a report besides its output rows. */
export interface JobFacts {
  /** The run's output file (null when it went to stdout, or the job was not made by `run`). */
  output: string | null;
  outputFormat: string | undefined;
  delimiter: string | undefined;
  prefix: string;
  labels: string[] | undefined;
  /** The gold column: eval.json's, else the run's `gold` option. */
  gold: string | undefined;
  /** The prediction column eval.json was computed on. */
  pred: string | undefined;
  timeline: TimelineBatch[];
  spend: Spend | null;
}

/**
 * Read a job directory's manifest, run state, spend.json and eval.json (each optional but the manifest).
 * @throws KbatchError JOB_NOT_FOUND (no manifest), JOB_INVALID (an unreadable manifest or run state)
 */
export async function readJobFacts(jobDir: string): Promise<JobFacts> {
  const manifest = await loadManifest(jobDir);
  const run = await loadRunState(jobDir);
  const evalFile = await readJson(join(jobDir, EVAL_FILE));
  const settings = run?.settings;
  const output = settings?.output ?? null;
  const column = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  return {
    output: output === null || output === '-' ? null : isAbsolute(output) ? output : join(jobDir, output),
    outputFormat: settings?.outputFormat,
    delimiter: settings?.outputFormat === 'tsv' ? '\t' : undefined,
    prefix: settings?.prefix ?? '',
    labels: settings?.labels,
    gold: column(evalFile?.gold) ?? column((settings as { gold?: unknown } | undefined)?.gold),
    pred: column(evalFile?.pred),
    timeline: await timelineOf(jobDir, manifest),
    spend: ((await readJson(join(jobDir, SPEND_FILE))) as Spend | null) ?? null,
  };
}

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    // A torn or hand-edited file: the report computes without it.
    return null;
  }
}

/**
 * The job's batches in manifest order. The manifest records when kbatch began a batch (intent before create), not
 * when the provider finished it: a done batch ends when its result files were written (their mtime).
 */
export async function timelineOf(jobDir: string, manifest: JobManifest): Promise<TimelineBatch[]> {
  const out: TimelineBatch[] = [];
  for (const part of manifest.parts) {
    const start = part.createStartedAt ?? part.uploadStartedAt;
    if (start === undefined) continue;
    out.push({
      part: part.index,
      kind: part.kind === 'resubmit' && part.parent !== undefined ? `resubmit of ${part.parent}` : part.kind,
      batchId: part.batchId ?? null,
      status: part.batchId === undefined ? 'not created' : part.straggler !== undefined && part.status === 'cancelled' ? 'cancelled (stragglers)' : (part.status ?? 'created'),
      start,
      end: (part.done ? await downloadedAt(jobDir, part) : undefined) ?? manifest.updatedAt,
      requests: part.requests,
      succeeded: part.succeeded ?? null,
      failed: part.failed ?? null,
    });
  }
  return out;
}

async function downloadedAt(jobDir: string, part: JobPart): Promise<string | undefined> {
  for (const path of [part.outputPath, part.errorPath]) {
    if (path === undefined) continue;
    const s = await stat(isAbsolute(path) ? path : join(jobDir, path)).catch(() => null);
    if (s !== null) return s.mtime.toISOString();
  }
  return undefined;
}
