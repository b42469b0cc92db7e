import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isAlive } from '../state/lock.js';

/**
 * Remove the temp files a killed kbatch process left in `dir`: names `pattern` matches, whose first group is the
 * writer's pid, when that process is gone (a live writer's temp file is never touched). A missing `dir` is fine.
 * Only plain files are removed unless `directories` is set (kbatch's own staging directories).
 */
export async function removeStaleTemps(dir: string, pattern: RegExp, { directories = false }: { directories?: boolean } = {}): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    const info = await lstat(join(dir, name)).catch(() => null);
    if (info === null || !(info.isFile() || (directories && info.isDirectory()))) continue;
    await rm(join(dir, name), { recursive: directories, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/** Job-directory temp files kbatch writes with its pid (exact names only: a user's `thesis.2019.tmp` is not one). */
export const JOB_TEMP_PATTERN = /^(?:run\.json|manifest\.json|cancel-requested|input)\.(\d+)\.tmp$/;

/**
 * Temp files of {@link writeFileAtomic} in a job's chunks/, results/ and run/retry-N/ (`<dest>.<pid>.<8 hex>.tmp`), for
 * the files kbatch writes there only: `part-00005.jsonl`, `part-00001.error.jsonl`, `batch-2.jsonl`.
 */
export const JOB_FILE_TEMP_PATTERN = /^(?:part-\d+(?:\.output|\.error)?|batch-\d+)\.jsonl\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** A retry round's request folder in run/. */
const RETRY_DIR_PATTERN = /^retry-\d+$/;

/** Where a join spools the answers it stores in the request cache (run/answers-spool/<pid>.<8 hex>/, one per process). */
export const ANSWER_SPOOL_DIR = join('run', 'answers-spool');
const ANSWER_SPOOL_PATTERN = /^(\d+)\.[0-9a-f]{8}$/;

/** A spool staging directory (`.incoming-<pid>`), where streamed input waits until its job directory is known. */
export const STAGING_PATTERN = /^\.incoming-(\d+)$/;

/** Stale `.<name>.<pid>.tmp` siblings of an output file (the temp name run-sinks writes before the final rename). */
export async function removeStaleOutputTemps(file: string): Promise<string[]> {
  const name = basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return removeStaleTemps(dirname(file), new RegExp(`^\\.${name}\\.(\\d+)\\.tmp$`));
}

/**
 * True when `dir` already is a kbatch job: it holds run.json or manifest.json, or the lock a killed run left
 * (`run/job.lock`, a run killed while saving its stdin). Ask before taking the lock: a first `--job-dir .` is not one.
 */
export async function isJobDir(dir: string): Promise<boolean> {
  for (const name of ['run.json', 'manifest.json', join('run', 'job.lock')]) {
    if ((await stat(join(dir, name)).catch(() => null))?.isFile()) return true;
  }
  return false;
}

/**
 * Remove what killed kbatch processes left in a job directory: pid-named temp files (also in chunks/, results/ and
 * run/retry-N/), spool staging directories and answer spools (whose answers the next join keeps again).
 * Call it only for a directory that was a job before this call ({@link isJobDir}): a user's directory is never swept.
 */
export async function removeStaleJobTemps(jobDir: string): Promise<void> {
  await removeStaleTemps(jobDir, JOB_TEMP_PATTERN);
  await removeStaleTemps(jobDir, STAGING_PATTERN, { directories: true });
  await removeStaleTemps(join(jobDir, ANSWER_SPOOL_DIR), ANSWER_SPOOL_PATTERN, { directories: true });
  await removeStaleTemps(join(jobDir, 'run'), JOB_TEMP_PATTERN);
  for (const sub of ['chunks', 'results']) await removeStaleTemps(join(jobDir, sub), JOB_FILE_TEMP_PATTERN);
  const runEntries = await readdir(join(jobDir, 'run'), { withFileTypes: true }).catch(() => []);
  for (const entry of runEntries) {
    if (entry.isDirectory() && RETRY_DIR_PATTERN.test(entry.name)) await removeStaleTemps(join(jobDir, 'run', entry.name), JOB_FILE_TEMP_PATTERN);
  }
}
