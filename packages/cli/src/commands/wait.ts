import type { Command } from 'commander';
import { resolve } from 'node:path';
import { isDetached, resumeJob } from '@kbatch/core';
import { addJobFlags, jobClientFlags, parseDuration, type JobFlags } from '../flags/client-flags.js';
import { waitForWorkers } from '../detached-job.js';
import { withInterrupt } from '../interrupt.js';
import { executeJob } from '../job-command.js';
import type { CliIo } from '../io.js';
import { addDatabaseFlags, commandJobRef, databaseUrl, withCommandStore, type DatabaseFlags } from '../flags/database-flags.js';
import type { RegisterCommand } from './index.js';

/** `kbatch wait JOB`: wait until every batch of the job is finished and downloaded (Ctrl-C leaves it resumable). */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program.command('wait').description("Wait for a job's batches, download their results and resubmit expired leftovers").argument('<job>', 'the job directory (with --database-url: the job id)');
  addDatabaseFlags(addJobFlags(cmd))
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch wait .kbatch/jobs/kb-20250101-120000-1a2b3c
  $ kbatch wait jobs/reviews --poll-interval 30s --progress json 2> progress.jsonl`,
    )
    .action(async (job: string, flags: JobFlags & DatabaseFlags) => {
      if (databaseUrl(flags, io, job) === undefined) return void (await executeJob(io, await jobClientFlags(flags, io, job), (options) => resumeJob(resolve(io.cwd, job), options)));
      const url = databaseUrl(flags, io, job)!;
      await withCommandStore(flags, io, job, async (opened) => {
        const { store } = opened;
        // A job the workers run (kbatch run --detach) is watched, never driven, whatever the queue knows of it.
        const state = await store.readRunState();
        if (state !== null && isDetached(state, store.dir)) {
          const pollMs = flags.pollInterval === undefined ? 2_000 : Math.min(parseDuration(flags.pollInterval, '--poll-interval'), 2_000);
          return withInterrupt((signal) => waitForWorkers(io, { databaseUrl: url, store, pollMs, signal }));
        }
        await executeJob(io, await jobClientFlags(flags, io, job, store), (options) => resumeJob(store.dir, { ...options, store }), { jobRef: commandJobRef(opened) });
      });
    });
};
