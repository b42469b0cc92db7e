import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KbatchError } from '../errors.js';

/** The lock file that keeps two processes from driving one job. */
export const LOCK_FILE = 'job.lock';

/** A held job lock; `release()` removes it (idempotent). */
export interface JobLock {
  release(): Promise<void>;
}

/**
 * Take the job's lock (`job.lock`, created exclusively with our pid). A lock whose process is gone
 * (same host, pid not alive) is stale and taken over.
 * @throws KbatchError JOB_LOCKED when another live process holds it
 */
export async function acquireJobLock(jobDir: string): Promise<JobLock> {
  const file = join(jobDir, LOCK_FILE);
  const content = JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await unlink(file).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(file);
    if (holder && holder.hostname === hostname() && !isAlive(holder.pid)) {
      await unlink(file).catch(() => {});
      continue;
    }
    if (!holder) {
      // Unreadable or half-written lock: give its writer a moment, then treat it as stale.
      if (attempt === 0) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      await unlink(file).catch(() => {});
      continue;
    }
    throw new KbatchError(
      'JOB_LOCKED',
      `Job ${jobDir} is in use by process ${holder.pid} on ${holder.hostname} (remove ${file} if that process is gone)`,
      { file },
    );
  }
  throw new KbatchError('JOB_LOCKED', `Could not take the lock ${file}`, { file });
}

async function readHolder(file: string): Promise<{ pid: number; hostname: string } | undefined> {
  try {
    const json = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown; hostname?: unknown };
    if (typeof json.pid === 'number' && typeof json.hostname === 'string') return { pid: json.pid, hostname: json.hostname };
  } catch {
    // fall through
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
