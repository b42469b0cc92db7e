import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KbatchError } from '../errors.js';

/** The lock file that keeps two processes from driving one job. */
export const LOCK_FILE = 'job.lock';

/** A held job lock; `release()` removes it (idempotent, and only while it is still ours). */
export interface JobLock {
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  hostname: string;
  nonce?: string;
}

/**
 * Take the job's lock (`job.lock`, created exclusively with our pid and a random nonce, then re-read to make
 * sure it is still ours). A lock whose process is gone (same host, pid not alive) is stale: it is taken over by
 * renaming it aside and checking that what was renamed is the dead holder's lock, so of several processes
 * taking over one stale lock exactly one wins.
 * @throws KbatchError JOB_LOCKED when another live process holds it, or wins the takeover
 */
export async function acquireJobLock(jobDir: string): Promise<JobLock> {
  return acquireWithHooks(jobDir, {});
}

/** Test seam: `beforeTakeover` runs between judging a lock stale and moving it aside (to stage a race). */
export async function acquireWithHooks(jobDir: string, hooks: { beforeTakeover?: () => Promise<void> }): Promise<JobLock> {
  const file = join(jobDir, LOCK_FILE);
  const nonce = randomBytes(8).toString('hex');
  const content = JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString(), nonce });
  for (let attempt = 0; attempt < 4; attempt++) {
    if (await createExclusive(file, content)) {
      if ((await readText(file)) === content) return heldLock(file, content);
      // Taken over between our write and the check (someone judged it stale): it is not ours.
      continue;
    }
    const text = await readText(file);
    if (text === undefined) continue; // released meanwhile
    if (text === content) return heldLock(file, content); // ours, put back by a takeover that lost
    const holder = parseHolder(text);
    if (holder && (holder.hostname !== hostname() || isAlive(holder.pid))) {
      throw new KbatchError(
        'JOB_LOCKED',
        `Job ${jobDir} is in use by process ${holder.pid} on ${holder.hostname} (remove ${file} if that process is gone)`,
        { file },
      );
    }
    if (!holder && attempt === 0) {
      // Unreadable or half-written lock: give its writer a moment, then treat it as stale.
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    await hooks.beforeTakeover?.();
    if (!(await takeOver(file, text, nonce))) break;
  }
  throw new KbatchError('JOB_LOCKED', `Could not take the lock ${file}: another process took it at the same time`, { file });
}

async function createExclusive(file: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

// Move the stale lock aside; true when what we moved is exactly the stale lock we judged (then it is gone).
async function takeOver(file: string, staleText: string, nonce: string): Promise<boolean> {
  const aside = `${file}.stale-${nonce}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true; // someone else moved it: race for a fresh create
    throw err;
  }
  const moved = await readText(aside);
  if (moved === staleText) {
    await unlink(aside).catch(() => {});
    return true;
  }
  // We moved a live lock that replaced the stale one: put it back (link never overwrites), then give up.
  await link(aside, file).catch(() => {});
  await unlink(aside).catch(() => {});
  return false;
}

function heldLock(file: string, content: string): JobLock {
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      if ((await readText(file)) === content) await unlink(file).catch(() => {});
    },
  };
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseHolder(text: string): Holder | undefined {
  try {
    const json = JSON.parse(text) as { pid?: unknown; hostname?: unknown; nonce?: unknown };
    if (typeof json.pid === 'number' && typeof json.hostname === 'string') {
      return { pid: json.pid, hostname: json.hostname, ...(typeof json.nonce === 'string' ? { nonce: json.nonce } : {}) };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** True while process `pid` runs on this host (ours included); a stale lock or temp file is one whose writer is gone. */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
