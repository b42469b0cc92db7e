import { resolve } from 'node:path';
import { z } from 'zod';
import { KbatchError, isKbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { DEFAULT_JOBS_DIR, newJobId } from '../job/create-job.js';
import { directoryStore, type JobStore } from './job-store.js';
import { directoryStorage } from './job-storage.js';
import { postgresStore, type PostgresDatabase } from './postgres-store.js';

/** Options of {@link openJobStore}: a job directory (state on disk), or a database URL (state in Postgres). */
export const OpenJobStoreOptionsSchema = z.object({
  /** The job directory, when the state is on disk (no `databaseUrl`). */
  jobDir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }).optional(),
  /** A Postgres URL (`postgres://user:password@host:port/db`): the job's state lives there, under `jobId`. */
  databaseUrl: z.string({ error: 'must be a Postgres URL' }).min(1, { error: 'must be a Postgres URL' }).optional(),
  /** The job's id in the database (default: a new one, for a new job). */
  jobId: z.string({ error: 'must be a job id' }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { error: 'must be a job id (letters, digits, . _ -)' }).optional(),
  /** With `databaseUrl`: the shared directory of job files; the job's are under `<storage>/<jobId>` (default `.kbatch/jobs`). */
  storage: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }).optional(),
  cwd: z.string().optional(),
  /** With `databaseUrl`: how long connecting (or waiting for a free pooled connection) may take before DATABASE_UNAVAILABLE (ms, default 10 s); with `database`, its pools' own setting applies instead. */
  connectionTimeoutMs: z.number({ error: 'must be a number of milliseconds' }).int({ error: 'must be a number of milliseconds' }).positive({ error: 'must be a number of milliseconds' }).optional(),
  /** With `databaseUrl`: the pools of that database the caller shares between stores (see openPostgresDatabase); the store then opens none. */
  database: z.custom<Pick<PostgresDatabase, 'pool' | 'sessions'>>((v) => typeof v === 'object' && v !== null && 'pool' in v && 'sessions' in v, { error: 'must be an opened database' }).optional(),
});
export type OpenJobStoreOptions = z.input<typeof OpenJobStoreOptionsSchema>;

/** A job's store, opened: `close()` ends what it opened (a database pool and the locks held through it). */
export interface OpenedJobStore {
  store: JobStore;
  /** The job's id: the database key with `databaseUrl`, else undefined (the directory names the job). */
  jobId?: string;
  close(): Promise<void>;
}

/**
 * The one place a job's {@link JobStore} is chosen: the job directory, or Postgres under a job id with the job's files
 * under `<storage>/<jobId>`. The URL's password never appears in what this throws.
 * @throws KbatchError DATABASE_UNAVAILABLE when the database cannot be reached; OPTION_INVALID without a job directory or URL
 * @example const { store, jobId, close } = await openJobStore({ databaseUrl: process.env.KBATCH_DATABASE_URL, storage: '/mnt/kbatch' });
 */
export async function openJobStore(options: OpenJobStoreOptions): Promise<OpenedJobStore> {
  const opts = parseOptions(OpenJobStoreOptionsSchema, options, 'openJobStore');
  const cwd = opts.cwd ?? process.cwd();
  if (opts.databaseUrl === undefined) {
    if (opts.jobDir === undefined) throw new KbatchError('OPTION_INVALID', 'Invalid options for openJobStore: must give `jobDir` or `databaseUrl`');
    return { store: directoryStore(resolve(cwd, opts.jobDir)), close: async () => {} };
  }
  const jobId = opts.jobId ?? newJobId();
  const dir = directoryStorage(resolve(cwd, opts.storage ?? DEFAULT_JOBS_DIR)).jobDir(jobId);
  try {
    const connection = opts.database === undefined ? { connectionString: opts.databaseUrl } : { pool: opts.database.pool, sessions: opts.database.sessions };
    const store = await postgresStore({ ...connection, jobId, dir, ...(opts.connectionTimeoutMs !== undefined ? { connectionTimeoutMs: opts.connectionTimeoutMs } : {}) });
    return { store, jobId, close: () => store.close() };
  } catch (error) {
    // The store's own errors (DATABASE_UNAVAILABLE with the driver's words) are cut the same way.
    if (isKbatchError(error)) {
      error.message = redactSecrets(error.message, opts.databaseUrl);
      throw error;
    }
    const message = redactSecrets(error instanceof Error ? error.message : String(error), opts.databaseUrl);
    throw new KbatchError('DATABASE_UNAVAILABLE', `Cannot use the database ${redactUrl(opts.databaseUrl)}: ${message}`);
  }
}

/**
 * A database URL fit to print: its password replaced by `***` (an unparsable URL is not shown at all).
 * @example redactUrl('postgres://u:secret@h/db') // 'postgres://u:***@h/db'
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    // libpq also takes the password as a query parameter.
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

// A driver message could quote the URL or its password: both are cut out.
export function redactSecrets(text: string, url: string): string {
  let out = text.replaceAll(url, redactUrl(url));
  try {
    const parsed = new URL(url);
    for (const password of [decodeURIComponent(parsed.password), parsed.searchParams.get('password') ?? '']) {
      if (password !== '') out = out.replaceAll(password, '***');
    }
  } catch {
    // Unparsable: the whole URL was replaced above.
  }
  return out;
}
