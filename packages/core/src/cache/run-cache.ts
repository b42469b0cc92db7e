// A run's handle on the request cache: opened on first use, once, and closed with the run.
import { openAnswerCache, type AnswerCache } from './answer-cache.js';

/** The request cache of one run (see {@link runCache}). */
export interface RunCache {
  /** The cache directory, null when the run has no cache (`cache: false`, `--no-cache`). */
  readonly dir: string | null;
  /** The open cache (opened on the first call), null without one. */
  answers(): Promise<AnswerCache | null>;
  close(): Promise<void>;
}

/**
 * The request cache in `dir` (null: none), opened when the run first needs it: a run resumed past preparing and
 * joining never loads it. A cache that cannot be opened (a read-only home, a platform without LMDB) is a warning,
 * not a failed run: the run goes on without it.
 */
export function runCache(dir: string | null, onWarning?: (message: string) => void): RunCache {
  let opened: Promise<AnswerCache | null> | null = null;
  const open = async (at: string): Promise<AnswerCache | null> => {
    try {
      return await openAnswerCache(at);
    } catch (err) {
      onWarning?.(`the request cache in ${at} cannot be used, running without it: ${(err as Error).message}`);
      return null;
    }
  };
  return {
    dir,
    answers: async () => (dir === null ? null : (opened ??= open(dir))),
    async close() {
      if (opened) await (await opened)?.close();
      opened = null;
    },
  };
}
