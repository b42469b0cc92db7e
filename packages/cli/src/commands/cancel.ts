import type { Command } from 'commander';
import { resolve } from 'node:path';
import { cancelJob } from '@kbatch/core';
import { addClientFlags, clientFromFlags, jobClientFlags, type ClientFlags } from '../flags/client-flags.js';
import type { CliIo } from '../io.js';
import { addDatabaseFlags, databaseUrl, withCommandStore, type DatabaseFlags } from '../flags/database-flags.js';
import type { RegisterCommand } from './index.js';

/** `kbatch cancel JOB`: cancel a job's unfinished batches; finished results are kept. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program
    .command('cancel')
    .description("Cancel a job's unfinished batches (finished results stay; `kbatch resume` collects partial output)")
    .argument('<job>', 'the job directory (with --database-url: the job id)');
  addDatabaseFlags(addClientFlags(cmd))
    .addHelpText('after', '\nExample:\n  $ kbatch cancel .kbatch/jobs/kb-20250101-120000-1a2b3c && kbatch resume .kbatch/jobs/kb-20250101-120000-1a2b3c')
    .action(async (job: string, flags: ClientFlags & DatabaseFlags) => {
      if (databaseUrl(flags, io, job) === undefined) {
        const jobDir = resolve(io.cwd, job);
        const n = await cancelJob(jobDir, { client: clientFromFlags(await jobClientFlags(flags, io, job), io) });
        return void io.stderr.write(`asked ${n} batch${n === 1 ? '' : 'es'} to cancel; collect partial results with: kbatch resume ${jobDir}\n`);
      }
      await withCommandStore(flags, io, job, async ({ store }) => {
        const n = await cancelJob(store.dir, { client: clientFromFlags(await jobClientFlags(flags, io, job, store), io), store });
        io.stderr.write(`asked ${n} batch${n === 1 ? '' : 'es'} to cancel; collect partial results with: kbatch resume ${job} (with the same database and --storage)\n`);
      });
    });
};
