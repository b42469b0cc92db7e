import type { Command } from 'commander';
import { resolve } from 'node:path';
import { resumeJob } from '@kbatch/core';
import { isRunJob } from '@kbatch/core/internal';
import { addJobFlags, jobClientFlags, type JobFlags } from '../flags/client-flags.js';
import { executeJob } from '../job-command.js';
import type { CliIo } from '../io.js';
import { addDatabaseFlags, commandJobRef, databaseUrl, withCommandStore, type DatabaseFlags } from '../flags/database-flags.js';
import type { RegisterCommand } from './index.js';
import { resumeRunCommand } from './run.js';
import { addCacheFlags } from '../flags/cache-flags.js';

/**
 * `kbatch resume JOB`: continue a job after any crash; safe to run any number of times.
 * A job started by `kbatch run` continues as a whole run (retries, join, output); others as a batch job.
 */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program.command('resume').description('Continue a job after a crash or Ctrl-C: submit what was not submitted, adopt what was, wait, download').argument('<job>', 'the job directory (with --database-url: the job id)');
  addDatabaseFlags(addCacheFlags(addJobFlags(cmd)), { quota: true })
    .option('--prices <file>', "a run job: a JSON file of price rows to use from now on (as for kbatch run --prices); without it, the rows the run was given are used")
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch resume .kbatch/jobs/kb-20250101-120000-1a2b3c
  $ kbatch resume jobs/reviews --poll-interval 30s --progress json 2> progress.jsonl`,
    )
    .action(async (job: string, given: JobFlags & DatabaseFlags & { prices?: string }) => {
      if (databaseUrl(given, io, job) === undefined) {
        const flags = await jobClientFlags(given, io, job);
        if (await isRunJob(resolve(io.cwd, job))) return resumeRunCommand(cmd, job, flags, io);
        return void (await executeJob(io, flags, (options) => resumeJob(resolve(io.cwd, job), options)));
      }
      await withCommandStore(given, io, job, async (opened) => {
        const { store } = opened;
        const flags = await jobClientFlags(given, io, job, store);
        if ((await store.readRunState()) !== null) return resumeRunCommand(cmd, store, flags, io);
        await executeJob(io, flags, (options) => resumeJob(store.dir, { ...options, store }), { jobRef: commandJobRef(opened) });
      });
    });
};
