import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Spend } from '../cost/spend-types.js';
import { KbatchError, isKbatchError } from '../errors.js';
import { EVAL_FILE } from '../eval/run-evaluation.js';
import { modelJobs } from '../models/index.js';
import { readModelsState, type ModelsState } from '../models/models-state.js';
import { sinkTargets } from '../run/run-sinks.js';
import { SPEND_FILE } from '../run/run-job.js';
import { loadManifest, type JobManifest, type JobPart } from '../state/manifest.js';
import { loadRunState, type RunSettings } from '../state/run-state.js';
import type { TimelineBatch } from './report-data.js';

/** What a job directory tells a report besides its output rows. */
export interface JobFacts {
  /** The job's output file: the run's `output`, else the job directory's default `output.<format>`; null for a job not made by run (no run.json). */
  output: string | null;
  outputFormat: string | undefined;
  delimiter: string | undefined;
  prefix: string;
  labels: string[] | undefined;
  /** The gold column: eval.json's, else the run's `gold` option. */
  gold: string | undefined;
  /** The job's batches; a several-model job's name their model. Empty when no batch was sent (every answer cached). */
  timeline: TimelineBatch[];
  spend: Spend | null;
}

/**
 * Read a job directory's run state (or a several-model job's models.json), manifests, spend.json and eval.json.
 * @throws KbatchError JOB_NOT_FOUND (neither a run state, a manifest nor a models.json), JOB_INVALID (an unreadable
 *   state file), INPUT_NOT_FOUND (the job's output went to stdout: the report needs the OUTPUT file)
 */
export async function readJobFacts(jobDir: string): Promise<JobFacts> {
  const parent = await readModelsState(jobDir);
  if (parent !== null) return parentFacts(jobDir, parent);
  const run = await loadRunState(jobDir);
  const manifest = await manifestOf(jobDir);
  if (run === null && manifest === null) throw new KbatchError('JOB_NOT_FOUND', `No kbatch job in ${jobDir} (no run.json, manifest.json or models.json)`, { file: jobDir });
  const settings = run?.settings;
  const evalFile = await readJson(join(jobDir, EVAL_FILE));
  return {
    ...(settings === undefined ? { output: null, outputFormat: undefined, delimiter: undefined } : outputOf(jobDir, settings)),
    prefix: settings?.prefix ?? '',
    labels: settings?.labels,
    gold: column(evalFile?.gold) ?? column(settings?.gold),
    timeline: manifest === null ? [] : await timelineOf(jobDir, manifest),
    spend: await spendOf(jobDir),
  };
}

// The parent of a several-model run: its combined output and eval.json, its models' batches (each sub-job's manifest).
async function parentFacts(jobDir: string, state: ModelsState): Promise<JobFacts> {
  const models = (await modelJobs(jobDir)) ?? [];
  const timeline: TimelineBatch[] = [];
  let settings: RunSettings | undefined;
  for (const m of models) {
    settings ??= (await loadRunState(m.jobDir))?.settings;
    const manifest = await manifestOf(m.jobDir);
    if (manifest !== null) for (const batch of await timelineOf(m.jobDir, manifest)) timeline.push({ ...batch, model: m.alias });
  }
  const evalFile = await readJson(join(jobDir, EVAL_FILE));
  const evaluations = Object.values((evalFile?.evaluations ?? {}) as Record<string, { gold?: unknown }>);
  return {
    ...outputOf(jobDir, state),
    prefix: settings?.prefix ?? column(state.options['prefix']) ?? '',
    labels: settings?.labels,
    gold: column(evalFile?.gold) ?? column(evaluations[0]?.gold) ?? column(state.options['gold']),
    timeline,
    spend: await spendOf(jobDir),
  };
}

// Where runJob wrote the rows (its own rule: the `output` option, else `<jobDir>/output.<format>`); stdout is gone.
function outputOf(jobDir: string, settings: Pick<RunSettings, 'output' | 'outputFormat' | 'rejects'>): Pick<JobFacts, 'output' | 'outputFormat' | 'delimiter'> {
  const output = sinkTargets({}, settings, jobDir, false).output as string;
  if (output === '-') {
    throw new KbatchError('INPUT_NOT_FOUND', `The job ${jobDir} wrote its output to stdout, so it holds no rows to report: give the OUTPUT file you saved instead (kbatch report OUTPUT)`, { file: jobDir });
  }
  return { output: isAbsolute(output) ? output : join(jobDir, output), outputFormat: settings.outputFormat, delimiter: settings.outputFormat === 'tsv' ? '\t' : undefined };
}

const column = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

async function spendOf(jobDir: string): Promise<Spend | null> {
  return ((await readJson(join(jobDir, SPEND_FILE))) as Spend | null) ?? null;
}

// A job answered wholly from the cache sends no batch, so it has no manifest.
async function manifestOf(jobDir: string): Promise<JobManifest | null> {
  try {
    return await loadManifest(jobDir);
  } catch (err) {
    if (isKbatchError(err) && err.code === 'JOB_NOT_FOUND') return null;
    throw err;
  }
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
 * when the provider finished it: a done batch ends when its result files were written (their mtime), unknown (null)
 * without them; a batch not done yet ends at the manifest's last update.
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
      end: part.done ? ((await downloadedAt(jobDir, part)) ?? null) : manifest.updatedAt,
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
