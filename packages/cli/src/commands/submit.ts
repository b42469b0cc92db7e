import type { Command } from 'commander';
import { runBatchJob } from '@kbatch/core';
import { addJobFlags, type JobFlags } from '../flags/client-flags.js';
import { withFlagNames } from '../flags/flag-errors.js';
import { executeJob } from '../job-command.js';
import { addLintLimitFlags, lintBeforeSubmit } from './lint.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** `kbatch submit DIR|FILES…`: create a job from chunk files, upload them and create their batches. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program
    .command('submit')
    .description('Create a durable job from chunk files: upload each chunk and create its batch (prints the job directory)')
    .argument('<chunks...>', 'chunk files (JSONL request lines) or directories of *.jsonl chunks')
    .option('-w, --wait', 'also wait for the batches and download their results');
  addLintLimitFlags(addJobFlags(cmd, { create: true }))
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch submit out/chunks --window 24h
  $ kbatch submit part-00001.jsonl part-00002.jsonl --job-dir jobs/reviews --concurrency 2 --wait`,
    )
    .action(async (chunks: string[], flags: JobFlags & { wait?: boolean; maxRequests?: number | string; maxBytes?: string; maxBatchTokens?: number | string }) => {
      await lintBeforeSubmit(chunks, flags, io);
      await executeJob(
        io,
        flags,
        (options) =>
          withFlagNames(['outputExpiresAfter'], () => runBatchJob({
            ...options,
            chunks,
            cwd: io.cwd,
            wait: flags.wait === true,
            ...(flags.jobDir ? { jobDir: flags.jobDir } : {}),
          })),
        {
          onSummary: (summary) => {
            if (!flags.wait && !flags.quiet) io.stderr.write(`wait for it with: kbatch wait ${summary.jobDir}\n`);
          },
          // Printed as soon as the job exists, so a failure or Ctrl-C later still leaves its path (even with --quiet).
          onJob: (jobDir) => io.stdout.write(`${jobDir}\n`),
        },
      );
    });
};
