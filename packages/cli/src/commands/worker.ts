import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { Option } from 'commander';
import { KbatchError, runWorker, type StepLog } from '@kbatch/core';
import { addClientFlags, clientFromFlags, jobClientFlags, parseDuration, type ClientFlags } from '../flags/client-flags.js';
import { numberArg } from '../flags/index.js';
import { withInterrupt } from '../interrupt.js';
import type { CliIo } from '../io.js';
import { addDatabaseFlags, databaseUrl, type DatabaseFlags } from '../flags/database-flags.js';
import type { RegisterCommand } from './index.js';

interface WorkerFlags extends ClientFlags, DatabaseFlags {
  concurrency?: number;
  slice?: string;
  lease?: string;
  maintenanceInterval?: string;
  retryDelay?: string;
  pollInterval?: string;
}

/** `kbatch worker`: process the steps of every job in the database (runs detached with `kbatch run --detach`). */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cmd = program.command('worker').description('Process the steps of detached jobs in the database (kbatch run --detach): submit, poll, retry, join; run one or more on each machine');
  addDatabaseFlags(addClientFlags(cmd))
    .addOption(new Option('--concurrency <n>', 'steps (of different jobs) at once').argParser(numberArg).default(4))
    .option('--slice <duration>', 'longest a step drives its job before handing it back to the queue', '60s')
    .option('--poll-interval <duration>', "delay before a running job's next step, and the longest wait between polls", '15s')
    .option('--lease <duration>', "how long a killed worker's step waits before another worker takes it over (a live worker renews its steps' leases)", '5m')
    .option('--maintenance-interval <duration>', 'how often expired steps are looked for', '10s')
    .option('--retry-delay <duration>', 'delay before a failed or expired step is tried again (10 tries); set on each step this worker takes', '60s')
    .addHelpText(
      'after',
      `
Every worker needs the same database and the same --storage path (a shared file system). The provider and base URL
come from each job; the API key from this worker's environment (or --api-key). One line per step on stderr.
Ctrl-C or SIGTERM: running steps are stopped (their state saved) and handed back to the queue at once, exit 0.

Examples:
  $ KBATCH_DATABASE_URL=postgres://kbatch@db/kbatch kbatch worker --storage /mnt/kbatch --concurrency 8`,
    )
    .action(async (flags: WorkerFlags) => workerCommand(flags, io));
};

async function workerCommand(flags: WorkerFlags, io: CliIo): Promise<void> {
  const url = databaseUrl(flags, io);
  if (url === undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `--database-url`: kbatch worker takes its jobs from a database (--database-url or KBATCH_DATABASE_URL)', { field: '--database-url' });
  // The notes jobClientFlags writes about a job's recorded URL would repeat on every step.
  const quiet: CliIo = { ...io, stderr: new Writable({ write: (_chunk, _encoding, done) => done() }) };
  const seconds = (value: string, flag: string) => Math.max(1, Math.round(parseDuration(value, flag) / 1000));
  const report = await withInterrupt((signal) =>
    runWorker({
      databaseUrl: url,
      storage: flags.storage!,
      cwd: io.cwd,
      concurrency: flags.concurrency!,
      sliceMs: parseDuration(flags.slice!, '--slice'),
      pollIntervalMs: parseDuration(flags.pollInterval!, '--poll-interval'),
      leaseSeconds: seconds(flags.lease!, '--lease'),
      maintenanceSeconds: seconds(flags.maintenanceInterval!, '--maintenance-interval'),
      retryDelaySeconds: seconds(flags.retryDelay!, '--retry-delay'),
      signal,
      clientFor: async (store) => clientFromFlags(await jobClientFlags(flags, quiet, store.jobId!, store), io),
      onStep: (log) => io.stderr.write(formatStepLog(log)),
      onError: (error) => io.stderr.write(`worker: warning: ${error.message}\n`),
      onWarning: (message) => io.stderr.write(`worker: warning: ${message}\n`),
    }),
  );
  io.stderr.write(`worker: stopped after ${report.steps} steps (${Math.round(report.queueMs)} ms in queue calls, idle fetches included)\n`);
}

/** One line per step: job, step name, outcome, ms (and the error of a failed one). */
function formatStepLog(log: StepLog): string {
  const error = log.code !== undefined ? ` [${log.code}] ${log.message?.split('\n')[0] ?? ''}` : '';
  return `worker: job ${log.jobId} ${log.step} ${log.outcome} ${log.ms} ms (queue ${Math.round(log.queueMs)} ms)${error}\n`;
}
