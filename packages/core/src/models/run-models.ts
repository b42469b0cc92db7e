// A several-model run: each model an ordinary run (a sub-job under the parent), their outputs zipped into one row per record.
import { join, resolve } from 'node:path';
import { isKbatchError, KbatchError } from '../errors.js';
import { Writable } from 'node:stream';
import { createJoinPlan, type JoinPlan } from '../join/join-plan.js';
import { directoryStore } from '../state/job-store.js';
import { makeDir } from '../internal/make-dir.js';
import { writeJsonAtomic } from '../internal/write-json-atomic.js';
import { estimateJob, dryRunSummary } from '../cost/estimate-job.js';
import { SPEND_FILE } from '../cost/spend.js';
import { EVAL_FILE } from '../eval/run-evaluation.js';
import { checkSinkTargets, openSinks, type SinkTargets } from '../run/run-sinks.js';
import { readTemplate, resolveSchema } from '../run/run-settings.js';
import type { ResolvedRunJobOptions, RunEvent, RunJobOptions, RunSummary } from '../run/run-options.js';
import { modelAliases } from './model-alias.js';
import { modelFigures, type ModelFiguresAccumulator } from './model-figures.js';
import { combineSummaries, type ModelRun, type ModelsSummary } from './models-summary.js';
import { modelJobDir, type ModelsState } from './models-state.js';
import { openParent } from './parent-job.js';
import { zipOutputs } from './zip-outputs.js';
import { assertNoModelCollision, inputColumns, type InputColumns } from './input-columns.js';
import { appliedCap, budgetShares } from './models-budget.js';

/** How {@link runModels} is called: the single-model run it uses for each model, and what the caller adds. */
export interface RunModelsContext {
  /** Run one model's sub-job (runJob). */
  runOne: (options: RunJobOptions) => Promise<RunSummary>;
  /** Yield each combined row (runRecords) besides writing it. */
  emitRows: boolean;
  /** The gold label column: each model's figures against it in the summary and `<jobDir>/eval.json`. */
  gold?: string;
  started: number;
}


/**
 * Run every record on each of `models` within one job: each model is an ordinary run in `<jobDir>/models/<ALIAS>/`
 * (so resume, retries, the cache and stragglers are the single-model path), then the sub-jobs' outputs are zipped
 * into one row per record: the input's fields once, then each model's fields under `ALIAS.`. The models run one
 * after another (`modelConcurrency` runs more at once).
 */
export async function* runModels(options: RunJobOptions, parsed: ResolvedRunJobOptions, at: RunModelsContext): AsyncGenerator<Record<string, unknown>, ModelsSummary, undefined> {
  const models = parsed.models!;
  const aliases = modelAliases(models);
  // The zip pairs the models' rows by position: each must be in input order.
  if (parsed.unordered === true) throw new KbatchError('OPTION_INVALID', 'Invalid option `unordered`: cannot be used with several `models` (their rows are paired by input order); drop --unordered or run one model', { field: 'unordered' });
  if (parsed.dryRun === true) return await dryRunModels(options, aliases, at.started);
  const cwd = parsed.cwd ?? process.cwd();
  const opts = await readTemplate(parsed, cwd);
  const emit = (event: RunEvent): void => {
    try {
      opts.onProgress?.(event);
    } catch {
      // A failing progress renderer must not break the run.
    }
  };
  const parent = await openParent(options, opts, { cwd, models, aliases, emit });
  try {
    const targets = parentTargets(opts, parent.state, parent.jobDir, at.emitRows);
    await checkSinkTargets(targets, { input: parent.state.input.spooled ? null : parent.state.input.path, jobDir: parent.jobDir });
    const input = await checkInputColumns(opts, parent, { aliases, cwd });
    const runs = await runSubJobs(options, parent, { runOne: at.runOne, caps: await modelCaps(options, parent.state, appliedCap(parsed.maxCost, parent.state)) });
    const { plan, labels } = await subJobPlan(opts, parent.state, { subDir: runs[0]!.jobDir, cwd });
    emit({ type: 'phase', phase: 'join', message: `joining the answers of ${runs.length} models into one row per record` });
    // Agreement needs labels to compare; with a gold column each model is evaluated on its `label` field either way.
    const figures = labels || at.gold !== undefined ? modelFigures({ aliases, prefix: plan.prefix, ...(labels ? { labels } : {}), ...(at.gold !== undefined ? { gold: at.gold } : {}) }) : null;
    const written = yield* writeCombined({ jobDir: parent.jobDir, runs, plan, targets, opts, state: parent.state, figures, emitRows: at.emitRows, inputHeader: input.header ? input.columns : [] });
    const summary = combineSummaries(runs, { jobDir: parent.jobDir, ...written, failed: written.records - written.succeeded, started: at.started });
    summary.resumed ||= parent.resumed;
    await writeJsonAtomic(join(parent.jobDir, SPEND_FILE), summary.spend);
    if (figures !== null) await addFigures(summary, figures, { gold: at.gold, onWarning: opts.onWarning });
    emit({ type: 'phase', phase: 'done', message: `${summary.succeeded}/${summary.records} records answered by every model` });
    return summary;
  } finally {
    await parent.lock.release();
  }
}

/** The figures into the summary (and `<jobDir>/eval.json` with gold); ones that failed (too many labels) are a warning, never a failed run. */
async function addFigures(summary: ModelsSummary, figures: ModelFiguresAccumulator, at: { gold: string | undefined; onWarning: ((message: string) => void) | undefined }): Promise<void> {
  try {
    Object.assign(summary, figures.result());
  } catch (err) {
    at.onWarning?.(`no figures of the models${at.gold !== undefined ? ' against gold' : ''}: ${(err as Error).message}`);
    return;
  }
  if (at.gold !== undefined) await writeJsonAtomic(join(summary.jobDir, EVAL_FILE), { evaluations: summary.evaluations, agreement: summary.agreement });
}

/** Each model's share of `maxCost` (null without a cap), from every model's estimate, before any model sends anything more. */
async function modelCaps(given: RunJobOptions, state: ModelsState, maxCost: number | undefined): Promise<number[] | null> {
  if (maxCost === undefined) return null;
  const estimates = [];
  for (const { model, alias } of state.models) {
    // Nothing is written by an estimate: no job directory, no output.
    const { client: _client, jobDir: _dir, output: _output, ...options } = subJobOptions(given, state, { model, alias, dir: '.' });
    estimates.push(await estimateJob(options));
  }
  return budgetShares(estimates, maxCost);
}

/** Each model's sub-job run to its end, `modelConcurrency` at a time (default one after another). */
async function runSubJobs(given: RunJobOptions, parent: { jobDir: string; state: ModelsState }, at: { runOne: RunModelsContext['runOne']; caps: number[] | null }): Promise<ModelRun[]> {
  const { jobDir, state } = parent;
  const runs: ModelRun[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < state.models.length) {
      const i = next++;
      const { model, alias } = state.models[i]!;
      const dir = modelJobDir(jobDir, alias, i);
      await makeDir(dir, 'model job directory');
      const options = subJobOptions(given, state, { model, alias, dir });
      runs[i] = { model, alias, jobDir: dir, summary: await at.runOne(at.caps ? { ...options, maxCost: at.caps[i]! } : options) };
    }
  };
  const width = Math.min(given.modelConcurrency ?? 1, state.models.length);
  // Every model's run settles before the lock is let go (one failing must not leave another running unlocked).
  const settled = await Promise.allSettled(Array.from({ length: width }, worker));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw parentInterrupted(failed.reason, jobDir);
  return runs;
}

// Per call, never handed to a sub-job: the parent's own input, outputs and model list.
const PARENT_ONLY = ['models', 'model', 'input', 'output', 'outputFormat', 'rejects', 'stdout', 'stdin', 'jobDir', 'format', 'modelConcurrency', 'dryRun'] as const;

/** One model's run options: the parent's stored options, this call's, the model, the parent's input, its own output. */
function subJobOptions(given: RunJobOptions, state: ModelsState, sub: { model: string; alias: string; dir: string }): RunJobOptions {
  const own: Record<string, unknown> = { ...state.options, ...given };
  for (const key of PARENT_ONLY) delete own[key];
  const tag = (event: RunEvent): RunEvent => ('message' in event && typeof event.message === 'string' ? { ...event, message: `[${sub.alias}] ${event.message}` } : event);
  return {
    ...(own as RunJobOptions),
    model: sub.model,
    input: state.input.path,
    format: state.input.format,
    jobDir: sub.dir,
    output: join(sub.dir, 'output.jsonl'),
    outputFormat: 'jsonl',
    ...(given.onProgress ? { onProgress: (event: RunEvent) => given.onProgress!(tag(event)) } : {}),
    ...(given.onWarning ? { onWarning: (message: string) => given.onWarning!(`[${sub.alias}] ${message}`) } : {}),
  };
}

/** A model's run stopped by Ctrl-C says to resume the whole job (the parent), not that model's. */
function parentInterrupted(err: unknown, jobDir: string): unknown {
  if (!isKbatchError(err) || err.code !== 'ABORTED') return err;
  return new KbatchError('ABORTED', `Interrupted; the run is saved. Continue it with: kbatch resume ${jobDir}`, { cause: err });
}

/** The combined output's targets: this call's output (else the stored one, else `<jobDir>/output.<format>`) and rejects. */
function parentTargets(opts: ResolvedRunJobOptions, state: ModelsState, jobDir: string, emitRows: boolean): SinkTargets {
  const cwd = opts.cwd ?? process.cwd();
  const given = opts.output instanceof Writable ? opts.output : typeof opts.output === 'string' ? (opts.output === '-' ? '-' : resolve(cwd, opts.output)) : null;
  const output = given ?? state.output ?? (emitRows ? null : join(jobDir, `output.${state.outputFormat}`));
  const rejects = opts.rejects instanceof Writable ? opts.rejects : typeof opts.rejects === 'string' ? resolve(cwd, opts.rejects) : state.rejects;
  return { output, rejects };
}

/**
 * The join plan the sub-jobs use: the first one's stored request settings (every model's are the same but for the
 * model) and this call's output settings, or, before any sub-job exists, the options as a sub-job would be given them.
 */
async function subJobPlan(opts: ResolvedRunJobOptions, state: ModelsState, at: { subDir: string; cwd: string }): Promise<{ plan: JoinPlan; labels: string[] | null }> {
  const sub = await directoryStore(at.subDir).readRunState();
  const o = { ...state.options, ...opts } as ResolvedRunJobOptions;
  const s = sub?.settings;
  const labels = s ? (s.labels ?? null) : (o.labels ?? null);
  const schema = await resolveSchema(o, sub, at.cwd);
  const confidence = s ? s.confidence : (o.confidence ?? (o.labels !== undefined && o.logprobs === true));
  const plan = createJoinPlan({ ...(labels ? { labels } : {}), ...(schema ? { schema } : {}), confidence, prefix: o.prefix ?? s?.prefix ?? '', keepRaw: o.keepRaw ?? s?.keepRaw ?? false });
  return { plan, labels };
}

/** Before any model runs: no input column may be overwritten by a model's field (CSV/TSV header, or the first JSON record). */
async function checkInputColumns(opts: ResolvedRunJobOptions, parent: { state: ModelsState; jobDir: string }, at: { aliases: readonly string[]; cwd: string }): Promise<InputColumns> {
  const { state } = parent;
  const kept = state.options as Pick<ResolvedRunJobOptions, 'delimiter' | 'encoding'>;
  const input = await inputColumns({ input: state.input.path, format: state.input.format, ...(kept.delimiter ? { delimiter: kept.delimiter } : {}), ...(kept.encoding ? { encoding: kept.encoding } : {}) });
  // Quiet: the plan is resolved again after the models ran, which says what there is to say about a stored schema.
  const { onWarning: _onWarning, ...quiet } = opts;
  const { plan } = await subJobPlan(quiet, state, { subDir: modelJobDir(parent.jobDir, at.aliases[0]!, 0), cwd: at.cwd });
  assertNoModelCollision({ file: state.input.spooled ? 'the input' : state.input.path, columns: input.columns }, at.aliases, plan);
  return input;
}

/** Zip the sub-jobs' outputs, write each combined row (and yield it for runRecords), feeding the figures. */
async function* writeCombined(at: {
  jobDir: string;
  runs: ModelRun[];
  plan: JoinPlan;
  targets: SinkTargets;
  opts: ResolvedRunJobOptions;
  state: ModelsState;
  figures: ModelFiguresAccumulator | null;
  emitRows: boolean;
  /** The input's CSV/TSV header: declared first, so no record (0 records, a malformed first one) drops a column. */
  inputHeader: readonly string[];
}): AsyncGenerator<Record<string, unknown>, { records: number; succeeded: number; outputs: RunSummary['outputs'] }, undefined> {
  const { runs, plan } = at;
  const aliases = runs.map((r) => r.alias);
  const sinkPlan = {
    columns: [...at.inputHeader, ...aliases.flatMap((a) => plan.columns.map((c) => `${a}.${c}`))],
    rawField: null,
    keepWhole: plan.rawField ? aliases.map((a) => `${a}.${plan.rawField}`) : [],
    name: (field: string) => field,
  };
  const sinks = openSinks(at.targets, at.opts, { outputFormat: at.state.outputFormat, onInvalidRecord: 'error' }, sinkPlan);
  let records = 0;
  let succeeded = 0;
  let ended = false;
  try {
    for await (const batch of zipOutputs({ models: runs.map((r) => ({ alias: r.alias, file: join(r.jobDir, 'output.jsonl') })), added: plan.fields, errorField: plan.names.error, customIdField: plan.names.customId })) {
      // Ctrl-C between batches of rows: the output's temp file is removed, a resume writes the rows again.
      if (at.opts.signal?.aborted) throw parentInterrupted(new KbatchError('ABORTED', 'interrupted while writing the rows'), at.jobDir);
      await sinks.write(batch);
      for (const joined of batch) {
        records++;
        if (joined.status === 'succeeded') succeeded++;
        at.figures?.add(joined.row);
        if (at.emitRows) yield joined.row;
      }
    }
    await sinks.end();
    ended = true;
  } finally {
    if (!ended) await sinks.destroy();
  }
  return { records, succeeded, outputs: sinks.outputs };
}

/** A dry run of several models: each model's estimate (nothing is written), summed as a run's summary. */
async function dryRunModels(options: RunJobOptions, aliases: string[], started: number): Promise<ModelsSummary> {
  const runs: ModelRun[] = [];
  const { models, modelConcurrency: _width, ...rest } = options;
  for (const [i, model] of models!.entries()) {
    runs.push({ model, alias: aliases[i]!, jobDir: '', summary: dryRunSummary(await estimateJob({ ...rest, model }), started) });
  }
  // As a run would refuse it: the models' worst cases together against the cap.
  if (options.maxCost !== undefined) budgetShares(runs.map((r) => r.summary.estimate!), options.maxCost);
  const first = runs[0]!.summary;
  return combineSummaries(runs, { jobDir: '', records: first.records, succeeded: 0, failed: 0, started, outputs: { output: null, rejects: null } });
}
