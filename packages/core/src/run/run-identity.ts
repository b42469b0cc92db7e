// Where a run lives when no job directory is given: named after what defines its requests, so a rerun finds it.
import { createHash } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { DEFAULT_JOBS_DIR } from '../job/create-job.js';
import { detectFormat } from '../records/detect-format.js';
import { removeStaleTemps, STAGING_PATTERN } from '../internal/stale-temps.js';
import { makeDir } from '../internal/make-dir.js';
import type { AnswerSchema } from '../answers/answer-schema.js';
import { fingerprintFile } from './input-fingerprint.js';
import type { ResolvedRunJobOptions, RunEvent } from './run-options.js';
import { readIdentity, requestOptions, requireInputAndPrompt } from './run-settings.js';
import { spoolInput, type SpooledInput } from './spool-input.js';
import { namedProvider } from '../providers/job-provider.js';
import { DEFAULT_PROVIDER } from '../providers/resolve-provider.js';

/** A run's default job directory and its input, located (and, for a stream, saved) before the directory is known. */
export interface DerivedJob {
  jobDir: string;
  jobId: string;
  /** A file fingerprinted in place, or a stream saved into a staging directory (see {@link placeStagedInput}). */
  input: SpooledInput;
}

/**
 * The default job directory `<cwd>/.kbatch/jobs/kb-<name>-<hash>`: the hash covers the input's sha256 (a file's
 * bytes, or stdin's once saved) and every option that defines the requests — read options (encoding too), model, prompt, system,
 * chat parameters, id column, labels, schema — and the API's base URL and provider (unless kluster). The same command finds the same job;
 * other input or options make a new one; an existing job is found by its hash, so a renamed input file finds its job.
 * Output options, retries, window and mode are not part of it (a rerun may change them). Jobs live under `cwd`.
 */
export async function deriveJobDir(opts: ResolvedRunJobOptions, cwd: string, schema: AnswerSchema | undefined, emit: (e: RunEvent) => void): Promise<DerivedJob> {
  requireInputAndPrompt(opts);
  const request = await requestOptions(opts, cwd);
  const isFile = typeof opts.input === 'string' && opts.input !== '-';
  const jobs = resolve(cwd, DEFAULT_JOBS_DIR);
  let input: SpooledInput;
  let name: string;
  if (isFile) {
    const path = resolve(cwd, opts.input as string);
    input = { path, format: opts.format ?? detectFormat(path), spooled: false, fingerprint: await fingerprintFile(path, opts.signal) };
    name = basename(path, extname(path));
  } else {
    emit({ type: 'phase', phase: 'spool', message: 'saving the input records' });
    await removeStaleTemps(jobs, STAGING_PATTERN, { directories: true });
    const staging = join(jobs, `.incoming-${process.pid}`);
    await makeDir(staging, 'staging directory');
    input = await spoolInput(opts.input!, staging, { format: opts.format, stdin: opts.stdin, cwd, signal: opts.signal });
    name = opts.input === '-' ? 'stdin' : 'records';
  }
  const baseURL = (opts.client as { baseURL?: unknown }).baseURL;
  const provider = namedProvider(opts) ?? DEFAULT_PROVIDER;
  const identity = {
    // A file and a stream of the same bytes are different runs (a rerun of one must not find the other).
    source: isFile ? 'file' : 'stream',
    input: input.fingerprint!.sha256,
    read: readIdentity(opts),
    request,
    labels: opts.labels ?? null,
    schema: schema?.jsonSchema ?? null,
    endpoint: typeof baseURL === 'string' ? baseURL : null,
    // Only when not the default, so every kluster job keeps the hash it had before providers existed.
    ...(provider === DEFAULT_PROVIDER ? {} : { provider }),
    // Only with a sample, so a full run keeps the hash it had before samples existed.
    ...(opts.sample !== undefined ? { sample: opts.sample } : {}),
  };
  const hash = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  const slug = name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'input';
  // Found by its hash, whatever the name: a renamed input file (same bytes) continues its job instead of paying again.
  const jobId = (await readdir(jobs).catch(() => [] as string[])).find((n) => n.startsWith('kb-') && n.endsWith(`-${hash}`)) ?? `kb-${slug}-${hash}`;
  return { jobDir: join(jobs, jobId), jobId, input };
}

/** True when `input` waits in a staging directory (a saved stream not yet moved into its job directory). */
export function isStaged(input: SpooledInput | null | undefined): input is SpooledInput {
  return input != null && input.spooled && STAGING_PATTERN.test(basename(dirname(input.path)));
}

/** Move a staged input into the job directory (same file system: a rename) and drop its staging directory. */
export async function placeStagedInput(input: SpooledInput, jobDir: string): Promise<SpooledInput> {
  const path = join(jobDir, basename(input.path));
  await rename(input.path, path);
  await rm(dirname(input.path), { recursive: true, force: true });
  return { ...input, path };
}

/** Drop a staged input that is not needed (the job already holds the same bytes). */
export async function dropStagedInput(input: SpooledInput): Promise<void> {
  await rm(dirname(input.path), { recursive: true, force: true });
}
