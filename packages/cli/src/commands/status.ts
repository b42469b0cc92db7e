import type { Command } from 'commander';
import { resolve } from 'node:path';
import { getProvider, jobStatus, jobStep, isKbatchError, modelJobs, PostgresJobStore, type JobStore, type JobSummary, type StepStatus } from '@kbatch/core';
import { loadRunState, type RunState } from '@kbatch/core/internal';
import { formatRecordedStep, formatStep } from '../detached-job.js';
import { addClientFlags, clientFromFlags, jobClientFlags, type ClientFlags } from '../flags/client-flags.js';
import type { CliIo } from '../io.js';
import { addDatabaseFlags, databaseUrl, withCommandStore, type DatabaseFlags } from '../flags/database-flags.js';
import type { RegisterCommand } from './index.js';

/** `kbatch status JOB`: per-batch and total counts (refreshed from the API when a key is available). */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program
    .command('status')
    .description("Show a job's per-batch and total counts")
    .argument('<job>', 'the job directory (with --database-url: the job id)')
    .option('--json', 'print the summary as JSON')
    .option('--offline', 'use the manifest only, without asking the API');
  addDatabaseFlags(addClientFlags(cmd))
    .addHelpText('after', '\nExamples:\n  $ kbatch status .kbatch/jobs/kb-20250101-120000-1a2b3c\n  $ kbatch status jobs/reviews --json | jq .succeeded')
    .action(async (job: string, flags: ClientFlags & DatabaseFlags & { json?: boolean; offline?: boolean }) => {
      const url = databaseUrl(flags, io, job);
      // A job the workers run also shows its latest step (queued, active, retrying with its last error, done, failed).
      if (url !== undefined) return withCommandStore(flags, io, job, async ({ store }) => printStatus(job, flags, io, store, await jobStep({ databaseUrl: url, jobId: job, ...(store instanceof PostgresJobStore ? { pool: store.database.pool } : {}) })));
      // A several-model job: each model's job in turn (JSON: one object by alias; null for a model that made no batch).
      const models = await modelJobs(resolve(io.cwd, job));
      if (models === null) return printStatus(job, flags, io);
      const summaries: Record<string, JobSummary | null> = {};
      for (const m of models) {
        summaries[m.alias] = await jobStatusOf(m.jobDir, flags, io);
        if (!flags.json) io.stdout.write(`model ${m.alias} (${m.model}):\n${summaries[m.alias] ? formatStatus(summaries[m.alias]!) : 'no batches (realtime, answered from the cache, or not started)\n'}`);
      }
      if (flags.json) io.stdout.write(`${JSON.stringify({ models: summaries }, null, 2)}\n`);
    });
};

/** One job's status on stdout (a job in the database: through its store); a run without batches: its run state. */
async function printStatus(job: string, flags: ClientFlags & { json?: boolean; offline?: boolean }, io: CliIo, store?: JobStore, step: StepStatus | null = null): Promise<void> {
  const state = store ? await store.readRunState() : await loadRunState(resolve(io.cwd, job)).catch(() => null);
  const recorded = state?.step;
  const summary = await jobStatusOf(resolve(io.cwd, job), flags, io, { required: state === null, ...(store ? { store } : {}) });
  if (summary === null) return printRunOnly(job, state!, flags, io, step);
  const extra = { ...(step === null ? {} : { step }), ...(recorded ? { workerStep: recorded } : {}) };
  if (flags.json) io.stdout.write(`${JSON.stringify({ ...summary, ...extra }, null, 2)}\n`);
  else io.stdout.write(formatStatus(summary) + (step === null ? (recorded ? formatRecordedStep(recorded) : '') : formatStep(step)));
}

/** A run that made no batch (every answer from the cache, realtime, or not sent yet): its run state's outcome. */
function printRunOnly(job: string, state: RunState, flags: { json?: boolean }, io: CliIo, step: StepStatus | null): void {
  const worker = { ...(state.step ? { workerStep: state.step } : {}), ...(step ? { step } : {}) };
  const run = { jobId: job, phase: state.phase, records: state.recordsRead, cached: state.cached ?? 0, skipped: state.skipped, batches: 0, ...worker };
  if (flags.json) return void io.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
  const done = state.phase === 'joined' ? 'finished' : `not finished (${state.phase})`;
  io.stdout.write(`job ${job}: ${done}, no batches: ${run.records} records read, ${run.cached} answered from the cache, ${run.skipped} skipped\n`);
  if (step !== null) io.stdout.write(formatStep(step));
  else if (state.step) io.stdout.write(formatRecordedStep(state.step));
}

/** A job's status (live when a key is available); null for a model's job without a manifest unless `required`. */
async function jobStatusOf(job: string, flags: ClientFlags & { offline?: boolean }, io: CliIo, at: { required?: boolean; store?: JobStore } = {}): Promise<JobSummary | null> {
  let client;
  if (!flags.offline) {
    const jobFlags = await jobClientFlags(flags, io, job, at.store);
    try {
      client = clientFromFlags(jobFlags, io);
    } catch (err) {
      if (!isKbatchError(err) || err.code !== 'API_KEY_MISSING') throw err;
      io.stderr.write(`note: no API key, showing the saved state (set ${getProvider(jobFlags.provider).apiKeyEnv.join(' or ')} for live counts)\n`);
    }
  }
  try {
    if (at.store && !at.required && !(await at.store.hasManifest())) return null;
    return await jobStatus(at.store?.dir ?? job, { ...(client ? { client } : {}), ...(at.store ? { store: at.store } : {}) });
  } catch (err) {
    if (at.required || !isKbatchError(err) || err.code !== 'JOB_NOT_FOUND') throw err;
    return null;
  }
}

function formatStatus(s: JobSummary): string {
  const rows = [['PART', 'KIND', 'BATCH', 'STATUS', 'TOTAL', 'COMPLETED', 'FAILED']];
  for (const p of s.parts) {
    rows.push([p.index, p.kind, p.batchId ?? '-', p.status, String(p.total), String(p.completed), String(p.failed)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  return `job ${s.jobId}: ${s.state}\n${table}\ntotal: ${s.requests} requests, ${s.succeeded} succeeded, ${s.failed} failed, ${s.pending} without result\n`;
}
