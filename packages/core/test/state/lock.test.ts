import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { acquireJobLock, acquireWithHooks, LOCK_FILE } from '../../src/state/lock.js';
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

  it('lets exactly one of several racing takeovers of one stale lock win', async () => {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    for (let round = 0; round < 40; round++) {
      const dir = await mkdtemp(join(tmpdir(), 'kbatch-lock-'));
      await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, hostname: hostname(), startedAt: 'x', nonce: 'dead' }));
      const results = await Promise.allSettled([1, 2, 3, 4].map(() => acquireJobLock(dir)));
      const winners = results.filter((r) => r.status === 'fulfilled');
      expect(winners, `round ${round}`).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expectKbatchError(r.reason, { code: 'JOB_LOCKED' });
      await (winners[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireJobLock>>>).value.release();
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('release() leaves a lock that another process has taken over in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-lock-'));
    const lock = await acquireJobLock(dir);
    const other = JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: 'y', nonce: 'other' });
    await writeFile(join(dir, LOCK_FILE), other);
    await lock.release();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });

  it('gives up with JOB_LOCKED and restores the lock when a live process took a stale lock over first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-lock-'));
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, hostname: hostname(), startedAt: 'x', nonce: 'dead' }));
    const winner = JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: 'y', nonce: 'winner' });
    const err = await catchError(() => acquireWithHooks(dir, { beforeTakeover: () => writeFile(join(dir, LOCK_FILE), winner) }));
    expectKbatchError(err, { code: 'JOB_LOCKED', message: 'another process took it at the same time' });
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(winner);
    expect(await readdir(dir)).toEqual([LOCK_FILE]);
  });
});
