import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { KbatchError, openJobStore, type OpenedJobStore } from '@kbatch/core';
import type { CliIo } from '../io.js';
import { numberArg } from './numbers.js';

/** The flags that put a job's state in Postgres (`run`, `resume`, `status`, `wait`, `results`, `cancel`). */
export interface DatabaseFlags {
  databaseUrl?: string;
  storage?: string;
  /** `kbatch run` only: the id of the job in the database (a new one by default). */
  jobId?: string;
  jobDir?: string;
  maxEnqueuedTokens?: number | string;
}

/**
 * Add --database-url and --storage (and --job-id with `run`: the other commands take the id as their argument; and
 * --max-enqueued-tokens with `quota`: the commands that create batches).
 */
export function addDatabaseFlags(cmd: Command, { run = false, quota = false } = {}): Command {
  if (quota) {
    cmd.addOption(
      new Option('--max-enqueued-tokens <n>', "with a database: most estimated prompt tokens the API key may have enqueued per model over every job and process using it; a batch is created only when it fits, in order; kept per key for every job on it, the latest given wins (default: the one kept, else the provider's documented figure, e.g. Together's 30B; else none)").argParser(numberArg),
    );
  }
  cmd
    .option('--database-url <url>', "keep the job's state in this Postgres database (default: $KBATCH_DATABASE_URL; prefer the variable: a flag is visible to other users in ps); the job is then named by its id")
    .option('--storage <dir>', "with a database: the shared directory of job files (chunks, results, spooled input), the job's under <dir>/<id> (required with a database: the same path on every machine)");
  if (run) cmd.option('--job-id <id>', 'with a database (required): the id of the job; running again with the same id continues it');
  return cmd;
}

/**
 * The database URL the flags or the environment give, if any (an empty variable is none).
 * @param job - the command's job argument: with a database, a job directory there is OPTION_INVALID, said plainly
 * @throws KbatchError OPTION_INVALID for --storage or --job-id without a database, or --job-dir with one
 */
export function databaseUrl(flags: DatabaseFlags, io: CliIo, job?: string): string | undefined {
  const url = flags.databaseUrl ?? (io.env['KBATCH_DATABASE_URL'] || undefined);
  if (url !== undefined) checkNotJobDir(job, io);
  if (url === undefined) {
    if (flags.storage !== undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `--storage`: only with --database-url (or KBATCH_DATABASE_URL)', { field: '--storage' });
    if (flags.jobId !== undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `--job-id`: only with --database-url (or KBATCH_DATABASE_URL); without a database the job directory names the job', { field: '--job-id' });
    if (flags.maxEnqueuedTokens !== undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `--max-enqueued-tokens`: only with --database-url (or KBATCH_DATABASE_URL): the quota is counted there, across every job and process', { field: '--max-enqueued-tokens' });
  } else if (flags.jobDir !== undefined) {
    throw new KbatchError('OPTION_INVALID', 'Invalid option `--job-dir`: not with a database (its files go under --storage DIR/<id>; --job-id names the job)', { field: '--job-dir' });
  } else if (flags.storage === undefined) {
    // A default would differ per machine and working directory: paid results downloaded there are lost to the others.
    throw new KbatchError('OPTION_INVALID', 'Invalid option `--storage`: required with a database — the shared directory of the job files, the same on every machine (a local default would keep downloaded results where other machines cannot read them)', { field: '--storage' });
  }
  return url;
}

/** KBATCH_DATABASE_URL in the environment turns every job argument into an id: a job directory given is said so plainly. */
function checkNotJobDir(job: string | undefined, io: CliIo): void {
  // (A job's files under --storage hold no state file: only a job directory has one.)
  if (job !== undefined && ['manifest.json', 'run.json', 'models.json'].some((f) => existsSync(resolve(io.cwd, job, f)))) {
    throw new KbatchError('OPTION_INVALID', `Invalid option \`--database-url\`: "${job}" is a job directory, but with a database (--database-url or KBATCH_DATABASE_URL) jobs are named by their id — give the job's id, or unset KBATCH_DATABASE_URL to use the directory`, { field: '--database-url' });
  }
}

/**
 * The store of the job a command names: with a database, `job` is its id (state in Postgres, files under --storage);
 * otherwise `job` is the job directory. Close it when the command ends.
 * @throws KbatchError OPTION_INVALID (see {@link databaseUrl}); DATABASE_UNAVAILABLE when the database cannot be reached
 */
export async function openCommandStore(flags: DatabaseFlags, io: CliIo, job: string | undefined): Promise<OpenedJobStore> {
  const url = databaseUrl(flags, io, job);
  if (url === undefined) return openJobStore({ jobDir: job ?? flags.jobDir ?? '.', cwd: io.cwd });
  const id = job ?? flags.jobId;
  // A new id per call would make a rerun of the same `kbatch run` a second job that pays for every request again.
  if (id === undefined) throw new KbatchError('OPTION_INVALID', 'Invalid option `--job-id`: required with a database — name the job, so that running the same command again continues it instead of paying for a second job', { field: '--job-id' });
  return openJobStore({ databaseUrl: url, cwd: io.cwd, ...(id !== undefined ? { jobId: id } : {}), ...(flags.storage !== undefined ? { storage: flags.storage } : {}) });
}

/** Run `body` with the job's store opened, and close it after (its pool and locks), whatever happens. */
export async function withCommandStore<T>(flags: DatabaseFlags, io: CliIo, job: string | undefined, body: (opened: OpenedJobStore) => Promise<T>): Promise<T> {
  const opened = await openCommandStore(flags, io, job);
  try {
    return await body(opened);
  } catch (error) {
    throw resumeById(error, opened);
  } finally {
    await opened.close();
  }
}

// The core's "continue with: kbatch resume DIR" names the job's files; a job in the database is resumed by its id.
function resumeById(error: unknown, opened: OpenedJobStore): unknown {
  if (opened.jobId !== undefined && error instanceof Error) error.message = error.message.replaceAll(`kbatch resume ${opened.store.dir}`, `kbatch resume ${commandJobRef(opened)}`);
  return error;
}

/** How a command names the job of `opened`: its directory, or with a database its id and `--storage DIR`. */
export function commandJobRef({ store, jobId }: OpenedJobStore): string {
  return jobId === undefined ? store.dir : `${jobId} --storage ${dirname(store.dir)}`;
}
