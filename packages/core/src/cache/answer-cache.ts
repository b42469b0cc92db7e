// The request cache's store: LMDB through `lmdb` (loaded on first use), shared by every job and process.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KbatchError } from '../errors.js';
import { makeDir } from '../internal/make-dir.js';

/** The data file in the cache directory (LMDB adds `answers.mdb-lock` next to it). */
export const CACHE_DATA_FILE = 'answers.mdb';

/** A cached answer: when it was stored and the chat.completion body, as JSON bytes. */
export interface CachedAnswer {
  storedAt: number;
  body: Buffer;
}

/** An open request cache (see {@link openAnswerCache}). */
export interface AnswerCache {
  readonly dir: string;
  get(key: Buffer): CachedAnswer | undefined;
  /**
   * The stored body's bytes without a copy: valid only until the next lookup or get (the fast path of a run's
   * lookups, see divertCached). Undefined on a miss.
   */
  lookup(key: Buffer): Buffer | undefined;
  /** How many entries the cache holds (LMDB's count: no scan). */
  size(): number;
  /** Store an answer (committed in the background, many puts to one transaction; see {@link flush}). */
  put(key: Buffer, body: Buffer | string): void;
  /** Wait until every put so far is committed to disk (throws the first write that failed). */
  flush(): Promise<void>;
  /** Every entry, in key order (for stats and prune). */
  entries(): Iterable<{ key: Buffer; storedAt: number }>;
  remove(key: Buffer): void;
  clear(): Promise<void>;
  close(): Promise<void>;
}

type Lmdb = typeof import('lmdb');
let loaded: Promise<Lmdb> | null = null;

/**
 * Open (creating it) the request cache in `dir`. LMDB: a lookup is a read in a memory map (no syscall), a write
 * batch is one transaction (whole or absent after SIGKILL), and its lock file lets several processes share the cache.
 * @throws KbatchError OUTPUT_UNWRITABLE when the directory cannot be made
 * @example const cache = await openAnswerCache(cacheDir(undefined)!); cache.get(requestKey(request));
 */
export async function openAnswerCache(dir: string): Promise<AnswerCache> {
  await makeDir(dir, 'cache directory');
  // Loaded on first use: runs without a cache (and every other command) never pay for the native module.
  const { open } = await (loaded ??= import('lmdb'));
  const db = open<Buffer, Buffer>({ path: join(dir, CACHE_DATA_FILE), keyEncoding: 'binary', encoding: 'binary', compression: false });
  let pending: Promise<unknown> = Promise.resolve();
  // A failed write (a full disk) is kept for flush() to throw: never an unhandled rejection.
  let failure: unknown = null;
  let tracked: Promise<unknown> | null = null;
  const track = (write: Promise<unknown>): void => {
    // lmdb gives every put of one batch the same promise: one handler a batch, not a promise chain a put.
    if (write === tracked) return;
    tracked = write;
    pending = write.catch((err: unknown) => {
      failure ??= err;
    });
  };
  return {
    dir,
    get(key) {
      const value = db.getBinary(key);
      return value === undefined || value.length < 8 ? undefined : { storedAt: value.readDoubleLE(0), body: value.subarray(8) };
    },
    lookup(key) {
      // getBinaryFast: the value in lmdb's shared buffer, no allocation; lmdb reuses its read transaction within a turn.
      const value = db.getBinaryFast(key);
      return value === undefined || value.length < 8 ? undefined : value.subarray(8);
    },
    size() {
      return (db.getStats() as { entryCount: number }).entryCount;
    },
    put(key, body) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      const value = Buffer.allocUnsafe(8 + bytes.length);
      value.writeDoubleLE(Date.now(), 0);
      bytes.copy(value, 8);
      track(db.put(key, value));
    },
    async flush() {
      await pending;
      await db.flushed;
      if (failure !== null) throw failure;
    },
    *entries() {
      for (const { key, value } of db.getRange({})) if (value.length >= 8) yield { key: key as Buffer, storedAt: value.readDoubleLE(0) };
    },
    remove(key) {
      track(db.remove(key));
    },
    async clear() {
      await db.clearAsync();
    },
    async close() {
      await pending;
      await db.close();
    },
  };
}

/**
 * The request cache in `dir` when it exists and holds entries, else null: an estimate reads the cache but never makes
 * one, and an empty cache answers nothing (its lookups, a hash per request, are skipped).
 * @example const cache = await openFilledCache(cacheDir(undefined)!); // null: nothing cached there
 */
export async function openFilledCache(dir: string): Promise<AnswerCache | null> {
  if (!(await hasCache(dir))) return null;
  const cache = await openAnswerCache(dir);
  if (cache.size() > 0) return cache;
  await cache.close();
  return null;
}

/** What `kbatch cache stats` prints. */
export interface CacheStats {
  dir: string;
  entries: number;
  /** Bytes the cache's files take on disk. */
  bytes: number;
  /** When the oldest / newest entry was stored (ISO 8601), null when empty. */
  oldest: string | null;
  newest: string | null;
}

/**
 * Entries, size on disk and the oldest and newest entry of the cache in `dir` (an absent cache is empty).
 * @example const { entries, bytes } = await cacheStats('/home/me/.cache/kbatch');
 */
export async function cacheStats(dir: string): Promise<CacheStats> {
  if (!(await hasCache(dir))) return { dir, entries: 0, bytes: 0, oldest: null, newest: null };
  const cache = await openAnswerCache(dir);
  let entries = 0;
  let oldest = Infinity;
  let newest = -Infinity;
  try {
    for (const { storedAt } of cache.entries()) {
      entries++;
      if (storedAt < oldest) oldest = storedAt;
      if (storedAt > newest) newest = storedAt;
    }
  } finally {
    await cache.close();
  }
  const iso = (ms: number): string | null => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);
  return { dir, entries, bytes: await cacheBytes(dir), oldest: iso(oldest), newest: iso(newest) };
}

/**
 * Remove the entries stored more than `olderThanMs` ago; returns how many were removed.
 * @example await pruneCache(dir, 30 * 86_400_000)
 */
export async function pruneCache(dir: string, olderThanMs: number): Promise<number> {
  if (!(olderThanMs >= 0)) throw new KbatchError('OPTION_INVALID', `Invalid option \`olderThan\`: must be a duration of 0 or more, got ${String(olderThanMs)}`, { field: 'olderThan' });
  if (!(await hasCache(dir))) return 0;
  const cutoff = Date.now() - olderThanMs;
  const cache = await openAnswerCache(dir);
  let removed = 0;
  try {
    for (const { key, storedAt } of cache.entries()) {
      if (storedAt >= cutoff) continue;
      cache.remove(Buffer.from(key));
      removed++;
    }
    await cache.flush();
  } finally {
    await cache.close();
  }
  return removed;
}

/**
 * Remove every entry (and the cache's files); returns how many entries there were.
 * @example await clearCache(dir)
 */
export async function clearCache(dir: string): Promise<number> {
  const { entries } = await cacheStats(dir);
  // Another process may hold the map open: emptied through LMDB rather than by deleting its files under it.
  if (await hasCache(dir)) {
    const cache = await openAnswerCache(dir);
    try {
      await cache.clear();
    } finally {
      await cache.close();
    }
  }
  return entries;
}

async function hasCache(dir: string): Promise<boolean> {
  return stat(join(dir, CACHE_DATA_FILE)).then(
    () => true,
    () => false,
  );
}

async function cacheBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(CACHE_DATA_FILE)) continue;
    // Blocks in use (LMDB's file is sparse and grows ahead of its data).
    const info = await stat(join(dir, name)).catch(() => null);
    if (info) bytes += info.blocks * 512;
  }
  return bytes;
}
