import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheStats, clearCache, openAnswerCache, pruneCache } from '../../src/cache/answer-cache.js';
import { cacheDir } from '../../src/cache/cache-dir.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
// @ts-expect-error: a plain .mjs fixture shared with the child process
import { entryBody, entryKey } from './fixtures/cache-entries.mjs';

const CHILD = fileURLToPath(new URL('./fixtures/cache-writer-child.mjs', import.meta.url));
const key = entryKey as (i: number) => Buffer;
const body = entryBody as (i: number) => string;
const dirs: string[] = [];

async function tempCache(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kbatch-cache-'));
  dirs.push(dir);
  return join(dir, 'cache');
}

/** Start the writer child over entries [from, to); `committed` is the last count it printed. */
function writer(dir: string, from: number, to: number) {
  const child = spawn(process.execPath, [CHILD, dir, String(from), String(to)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const state = { committed: from };
  child.stdout.on('data', (d: Buffer) => (state.committed = Number(d.toString().trim().split('\n').pop())));
  const exit = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, state, exit };
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('openAnswerCache', () => {
  it('answers what was put, misses the rest, and keeps entries across opens', async () => {
    const dir = await tempCache();
    const cache = await openAnswerCache(dir);
    cache.put(key(1), body(1));
    await cache.flush();
    expect(cache.get(key(1))?.body.toString()).toBe(body(1));
    expect(cache.get(key(2))).toBeUndefined();
    await cache.close();
    const again = await openAnswerCache(dir);
    expect(again.get(key(1))?.body.toString()).toBe(body(1));
    expect(Date.now() - again.get(key(1))!.storedAt).toBeLessThan(60_000);
    await again.close();
  });

  it('is left whole by a SIGKILL mid-write: every entry it holds answers correctly', async () => {
    const dir = await tempCache();
    const w = writer(dir, 0, 200_000);
    // Killed once a few batches are committed, while the next ones are being written.
    while (w.state.committed < 1000) await new Promise((r) => setTimeout(r, 10));
    w.child.kill('SIGKILL');
    expect(await w.exit).toBe('SIGKILL');
    const cache = await openAnswerCache(dir);
    let held = 0;
    for (const { key: k } of cache.entries()) {
      const i = Number(/answer (\d+)/.exec(cache.get(Buffer.from(k))!.body.toString())![1]);
      expect(cache.get(Buffer.from(k))!.body.toString()).toBe(body(i));
      expect(Buffer.from(k).equals(key(i))).toBe(true);
      held++;
    }
    // Every committed batch is there; nothing half-written is.
    expect(held).toBeGreaterThanOrEqual(w.state.committed);
    for (let i = 0; i < w.state.committed; i++) expect(cache.get(key(i))?.body.toString()).toBe(body(i));
    await cache.close();
  });

  it('takes two processes writing at once, and each sees the other\'s entries', async () => {
    const dir = await tempCache();
    const [a, b] = [writer(dir, 0, 1500), writer(dir, 1500, 3000)];
    expect(await Promise.all([a.exit, b.exit])).toEqual([0, 0]);
    const cache = await openAnswerCache(dir);
    for (let i = 0; i < 3000; i += 7) expect(cache.get(key(i))?.body.toString()).toBe(body(i));
    await cache.close();
    expect((await cacheStats(dir)).entries).toBe(3000);
  });
});

describe('cacheStats, pruneCache, clearCache', () => {
  it('count entries and bytes, prune the old ones, clear the rest', async () => {
    const dir = await tempCache();
    expect(await cacheStats(dir)).toEqual({ dir, entries: 0, bytes: 0, oldest: null, newest: null });
    const cache = await openAnswerCache(dir);
    for (let i = 0; i < 10; i++) cache.put(key(i), body(i));
    await cache.close();
    const stats = await cacheStats(dir);
    expect(stats).toMatchObject({ entries: 10 });
    expect(stats.bytes).toBeGreaterThan(10 * 2000);
    expect(Date.parse(stats.newest!)).toBeGreaterThanOrEqual(Date.parse(stats.oldest!));
    expect(await pruneCache(dir, 3_600_000)).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(await pruneCache(dir, 0)).toBe(10);
    expect((await cacheStats(dir)).entries).toBe(0);
    const more = await openAnswerCache(dir);
    more.put(key(1), body(1));
    await more.close();
    expect(await clearCache(dir)).toBe(1);
    expect((await cacheStats(dir)).entries).toBe(0);
    expectKbatchError(await catchError(() => pruneCache(dir, -1)), { code: 'OPTION_INVALID', field: 'olderThan' });
  });
});

describe('cacheDir', () => {
  it('takes the option, then KBATCH_CACHE_DIR, then the user cache directory; false is none', () => {
    expect(cacheDir(false)).toBeNull();
    expect(cacheDir('c', { cwd: '/w', env: { KBATCH_CACHE_DIR: '/e' } })).toBe('/w/c');
    expect(cacheDir(undefined, { cwd: '/w', env: { KBATCH_CACHE_DIR: '/e' } })).toBe('/e');
    if (process.platform === 'linux') {
      expect(cacheDir(undefined, { env: { XDG_CACHE_HOME: '/x' } })).toBe('/x/kbatch');
      expect(cacheDir(undefined, { env: {} })).toMatch(/\/\.cache\/kbatch$/);
    }
  });
});
