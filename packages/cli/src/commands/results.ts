import type { Command } from 'commander';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { isSuccessLine, KbatchError, modelJobs, readJobResultEntries, type JobResultEntry } from '@kbatch/core';
import type { CliIo } from '../io.js';
import { detachedOutput, printFile } from '../detached-job.js';
import { addDatabaseFlags, databaseUrl, withCommandStore, type DatabaseFlags } from '../flags/database-flags.js';
import type { RegisterCommand } from './index.js';

/** `kbatch results JOB > out.jsonl`: every result line (output and error files), each request once, streamed. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program
    .command('results')
    .description("Print all of a job's result lines (output and error), each request once, as JSONL on stdout")
    .argument('<job>', 'the job directory (with --database-url: the job id)')
    .option('--failed', 'only the lines of failed requests')
    .option('--succeeded', 'only the lines of successful requests');
  addDatabaseFlags(cmd)
    .addHelpText('after', '\nExamples:\n  $ kbatch results .kbatch/jobs/kb-20250101-120000-1a2b3c > results.jsonl\n  $ kbatch results jobs/reviews --failed | jq .custom_id')
    .action(async (job: string, flags: DatabaseFlags & { failed?: boolean; succeeded?: boolean }) => {
      if (databaseUrl(flags, io, job) === undefined) {
        // A several-model job's lines repeat each custom_id once per model: they are read from one model's job at a time.
        const models = await modelJobs(resolve(io.cwd, job));
        if (models !== null) {
          const list = models.map((m) => `kbatch results ${m.jobDir}`).join('; ');
          throw new KbatchError('JOB_NOT_FOUND', `${job} runs several models, each in its own job: ${list} (its combined rows are the run's output)`, { file: job });
        }
        return printResults(readJobResultEntries(resolve(io.cwd, job)), flags, io);
      }
      // The manifest is the database's; the result files are under the storage directory.
      await withCommandStore(flags, io, job, async ({ store }) => {
        // A detached run's rows, as the workers wrote them (without a filter: --failed/--succeeded select result lines).
        const output = flags.failed || flags.succeeded ? null : await detachedOutput(store);
        if (output !== null) return printFile(io, output);
        await printResults(readJobResultEntries(store.dir, await store.readManifest()), flags, io);
      });
    });
};

async function printResults(entries: AsyncIterable<JobResultEntry>, flags: { failed?: boolean; succeeded?: boolean }, io: CliIo): Promise<void> {
  for await (const entry of entries) {
    const ok = isSuccessLine(entry.result);
    if ((flags.failed && ok) || (flags.succeeded && !ok)) continue;
    if (!io.stdout.write(`${entry.text}\n`)) await once(io.stdout, 'drain');
  }
}
