// What status, wait and results show of a job the workers run (kbatch run --detach): its steps in the queue.
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { jobStep, type JobStore, type StepStatus } from '@kbatch/core';
import { EXIT, ExitError } from './exit-error.js';
import type { CliIo } from './io.js';

/** The job's latest step as one status line: queued, active, retrying with its last error, done, failed. */
export function formatStep(step: StepStatus): string {
  const out = step.output ?? {};
  const state = step.state === 'created' ? `queued (due ${step.startAfter})` : step.state === 'retry' ? `retrying (attempt ${step.retryCount + 1}, due ${step.startAfter})` : step.state;
  const last = out.step !== undefined ? `, step ${out.step}${out.outcome !== undefined ? ` ${out.outcome}` : ''}` : '';
  const error = out.code !== undefined ? `: [${out.code}] ${out.message ?? ''}` : '';
  return `workers: ${state}${last}${error}\n`;
}

/**
 * `kbatch wait ID` of a detached job: watch its steps in the database (never drive it, no lock) until the workers
 * finish it; exit as the run would: 0, 3 when records failed, 1 when its step failed for good.
 */
export async function waitForWorkers(io: CliIo, at: { databaseUrl: string; jobId: string; pollMs: number; signal: AbortSignal }): Promise<void> {
  let shown = '';
  for (;;) {
    const step = await jobStep({ databaseUrl: at.databaseUrl, jobId: at.jobId });
    const line = step === null ? 'workers: no step queued\n' : formatStep(step);
    if (line !== shown) io.stderr.write((shown = line));
    const out = (step?.output ?? {}) as { outcome?: string; failed?: number; records?: number };
    if (step?.state === 'completed' && out.outcome === 'done') {
      if ((out.failed ?? 0) > 0) throw new ExitError(EXIT.partial, `${out.failed} of ${out.records} records did not succeed`);
      return;
    }
    if (step === null || step.state === 'failed' || step.state === 'cancelled') throw new ExitError(EXIT.error);
    await sleep(at.pollMs, undefined, { signal: at.signal });
  }
}

/** The rows file the workers write for a detached run, once written; null for other jobs (or one not finished). */
export async function detachedOutput(store: JobStore): Promise<string | null> {
  const state = await store.readRunState();
  if (state === null || state.phase !== 'joined') return null;
  const file = join(store.dir, `output.${state.settings.outputFormat}`);
  return (state.settings.output ?? file) === file && existsSync(file) ? file : null;
}

/** Print a file to stdout, streamed. */
export async function printFile(io: CliIo, file: string): Promise<void> {
  await pipeline(createReadStream(file), io.stdout, { end: false });
}
