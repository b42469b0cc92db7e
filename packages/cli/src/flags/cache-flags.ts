import type { Command } from 'commander';
import { isAbsolute, resolve } from 'node:path';
import type { CliIo } from '../io.js';

/** The request cache flags (`run`, `resume`). */
export interface CacheFlags {
  cacheDir?: string;
  /** False with --no-cache. */
  cache?: boolean;
}

/** Add --cache-dir and --no-cache. */
export function addCacheFlags(cmd: Command): Command {
  return cmd
    .option('--cache-dir <dir>', 'request cache directory (default: $KBATCH_CACHE_DIR, else the user cache directory, e.g. ~/.cache/kbatch)')
    .option('--no-cache', 'neither answer requests from the request cache nor store answers in it');
}

/** The `cache` run option the flags ask for: false, a directory, KBATCH_CACHE_DIR from the CLI's environment, or the core's default. */
export function cacheFromFlags(flags: CacheFlags, io: CliIo): { cache?: string | false } {
  if (flags.cache === false) return { cache: false };
  const dir = flags.cacheDir ?? (io.env['KBATCH_CACHE_DIR'] || undefined);
  if (dir === undefined) return {};
  return { cache: isAbsolute(dir) ? dir : resolve(io.cwd, dir) };
}
