import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isAlive } from '../job/lock.js';

/**
 * Remove the temp files a killed kbatch process left in `dir`: names `pattern` matches, whose first group is the
 * writer's pid, when that process is gone (a live writer's temp file is never touched). A missing `dir` is fine.
 */
export async function removeStaleTemps(dir: string, pattern: RegExp): Promise<string[]> {
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
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/** Job-directory temp files kbatch writes with its pid: `run.json.<pid>.tmp`, `manifest.json.<pid>.tmp`, `input.<pid>.tmp`, … */
export const JOB_TEMP_PATTERN = /^[\w.-]+\.(\d+)\.tmp$/;

/** A spool staging directory (`.incoming-<pid>`), where streamed input waits until its job directory is known. */
export const STAGING_PATTERN = /^\.incoming-(\d+)$/;

/** Stale `.<name>.<pid>.tmp` siblings of an output file (the temp name run-sinks writes before the final rename). */
export async function removeStaleOutputTemps(file: string): Promise<string[]> {
  const name = basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return removeStaleTemps(dirname(file), new RegExp(`^\\.${name}\\.(\\d+)\\.tmp$`));
}

/** Remove what killed kbatch processes left in a job directory: pid-named temp files and spool staging directories. */
export async function removeStaleJobTemps(jobDir: string): Promise<void> {
  await removeStaleTemps(jobDir, JOB_TEMP_PATTERN);
  await removeStaleTemps(jobDir, STAGING_PATTERN);
  await removeStaleTemps(join(jobDir, 'run'), JOB_TEMP_PATTERN);
}
