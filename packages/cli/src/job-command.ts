// How the job commands (submit, wait, resume) drive a job and report it.
import type { JobEvent, JobOptions, JobSummary } from '@kbatch/core';
import type { CliIo } from './io.js';
import { createProgressReporter } from './progress/index.js';
import { ExitError, EXIT } from './exit-error.js';
import { clientFromFlags, jobOptionsFromFlags, progressMode, type JobFlags } from './flags/client-flags.js';
import { withInterrupt } from './interrupt.js';

/** What a job command adds to {@link executeJob}. */
export interface ExecuteJobHooks {
  /** Called with the final summary (before the exit code is decided). */
  onSummary?: (summary: JobSummary) => void;
  /** Called once with the job directory as soon as the job exists (before any upload). */
  onJob?: (jobDir: string) => void;
  /** How the commands the summary suggests name the job (default its directory; with a database, its id and --storage). */
  jobRef?: string;
}

/**
 * Drive a job the way every job command does: client from flags, progress on stderr, Ctrl-C → resumable stop,
 * summary on stderr (a `{"type":"summary"}` JSON line with `--progress json`; with `--quiet` only when some
 * requests failed or are missing), exit code 3 when some requests failed or are missing, 130 when interrupted.
 * @param run - calls runBatchJob/resumeJob with the mapped options
 */
export async function executeJob(
  io: CliIo,
  flags: JobFlags,
  run: (options: JobOptions) => Promise<JobSummary>,
  { onSummary, onJob, jobRef }: ExecuteJobHooks = {},
): Promise<JobSummary> {
  const client = clientFromFlags(flags, io);
  const mode = progressMode(flags);
  const progress = createProgressReporter({ stream: io.stderr, mode });
  let jobSeen = false;
  const onProgress = (e: JobEvent) => {
    if (e.type === 'job' && !jobSeen) {
      jobSeen = true;
      onJob?.(e.jobDir);
    }
    progress.onEvent(e);
  };
  let summary: JobSummary;
  try {
    summary = await withInterrupt((signal) => run({ ...jobOptionsFromFlags(flags), client, signal, onProgress }));
  } catch (err) {
    progress.done();
    throw err;
  }
  progress.done();
  const unsuccessful = summary.state !== 'completed' && summary.state !== 'running';
  if (mode === 'json') io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'summary', ...summary })}\n`);
  else if (!flags.quiet || unsuccessful) io.stderr.write(formatSummary(summary, jobRef));
  onSummary?.(summary);
  if (unsuccessful) throw new ExitError(EXIT.partial);
  return summary;
}

/** The human summary of a job (stderr); `jobRef` names the job in the commands it suggests. */
export function formatSummary(s: JobSummary, jobRef = s.jobDir): string {
  const lines = [
    `job ${s.jobId} ${s.state}: ${s.succeeded}/${s.requests} succeeded, ${s.failed} failed, ${s.pending} without result`,
  ];
  for (const p of s.parts) {
    if (p.status === 'failed') lines.push(`  part ${p.index}: batch ${p.batchId ?? '?'} failed validation (${p.lineErrors} errors) [${p.code ?? 'BATCH_FAILED'}]`);
    else if (p.code && !p.resubmittedAs) lines.push(`  part ${p.index}: batch ${p.batchId ?? '?'} ${p.status}, ${p.completed}/${p.total} completed [${p.code}]`);
  }
  // `line` is the request's line in the part's chunk file; its custom_id names the input row it came from.
  for (const e of s.lineErrors.slice(0, 20)) {
    lines.push(
      `  part ${e.part}${e.line === null ? '' : ` line ${e.line}`}${e.customId === null ? '' : ` (custom_id ${e.customId})`}: ${e.code ?? 'error'}: ${e.message ?? ''}`,
    );
  }
  if (s.lineErrors.length > 20) lines.push(`  … ${s.lineErrors.length - 20} more (see ${s.jobDir}/manifest.json)`);
  if (s.state !== 'running') lines.push(`results: kbatch results ${jobRef} > results.jsonl`);
  else lines.push(`continue with: kbatch resume ${jobRef}`);
  return `${lines.join('\n')}\n`;
}
