import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { acquireJobLock, LOCK_FILE } from '../../src/job/lock.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('acquireJobLock', () => {
  it('refuses a second holder with JOB_LOCKED', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-lock-'));
    const lock = await acquireJobLock(dir);
    expectKbatchError(await catchError(() => acquireJobLock(dir)), { code: 'JOB_LOCKED', message: String(process.pid) });
    await lock.release();
    const again = await acquireJobLock(dir);
    await again.release();
  });

  it('takes over a stale lock whose process is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-lock-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(dead), hostname: hostname(), startedAt: 'x' }));
    const lock = await acquireJobLock(dir);
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });
});
