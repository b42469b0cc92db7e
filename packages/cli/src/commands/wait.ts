import type { Command } from 'commander';
import { resolve } from 'node:path';
import { resumeJob } from '@kbatch/core';
import { addJobFlags, jobClientFlags, type JobFlags } from '../flags/client-flags.js';
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
      if (databaseUrl(flags, io) === undefined) return void (await executeJob(io, await jobClientFlags(flags, io, job), (options) => resumeJob(resolve(io.cwd, job), options)));
      await withCommandStore(flags, io, job, async (opened) => {
        const { store } = opened;
        await executeJob(io, await jobClientFlags(flags, io, job, store), (options) => resumeJob(store.dir, { ...options, store }), { jobRef: commandJobRef(opened) });
      });
    });
};
