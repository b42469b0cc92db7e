import type { Command } from 'commander';
import { cacheDir, cacheStats, clearCache, KbatchError, pruneCache } from '@kbatch/core';
import type { CliIo } from '../io.js';
import { parseDuration } from '../flags/client-flags.js';
import { cacheFromFlags } from '../flags/cache-flags.js';
import type { RegisterCommand } from './index.js';

interface CacheCommandFlags {
  cacheDir?: string;
  json?: boolean;
}

/** `kbatch cache stats|prune|clear`: look at and trim the request cache shared by every run. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const cache = program.command('cache').description('Manage the request cache shared by every run: stats, prune --older-than 30d, clear');
  const dirOf = (flags: CacheCommandFlags): string => cacheDir(cacheFromFlags(flags, io).cache, { cwd: io.cwd, env: io.env })!;
  cache
    .command('stats')
    .description('Entries, bytes on disk, and the oldest and newest entry')
    .option('--cache-dir <dir>', 'the cache directory (default: $KBATCH_CACHE_DIR, else the user cache directory)')
    .option('--json', 'print one JSON object')
    .action(async (flags: CacheCommandFlags) => {
      const stats = await cacheStats(dirOf(flags));
      if (flags.json) io.stdout.write(`${JSON.stringify(stats)}\n`);
      else io.stdout.write(`cache: ${stats.dir}\nentries: ${stats.entries}\nbytes: ${stats.bytes}\noldest: ${stats.oldest ?? '-'}\nnewest: ${stats.newest ?? '-'}\n`);
    });
  cache
    .command('prune')
    .description('Remove the entries stored longer ago than --older-than')
    .requiredOption('--older-than <age>', 'an age such as 30d, 12h or 90m')
    .option('--cache-dir <dir>', 'the cache directory (default: $KBATCH_CACHE_DIR, else the user cache directory)')
    .action(async (flags: CacheCommandFlags & { olderThan: string }) => {
      const removed = await pruneCache(dirOf(flags), parseAge(flags.olderThan));
      io.stdout.write(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'} older than ${flags.olderThan}\n`);
    });
  cache
    .command('clear')
    .description('Remove every entry')
    .option('--cache-dir <dir>', 'the cache directory (default: $KBATCH_CACHE_DIR, else the user cache directory)')
    .action(async (flags: CacheCommandFlags) => {
      const removed = await clearCache(dirOf(flags));
      io.stdout.write(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'}\n`);
    });
};

/**
 * An age: days (`30d`) or weeks (`2w`), else a duration as every other flag takes it (`12h`, `90m`, `30s`).
 * @throws KbatchError OPTION_INVALID naming --older-than
 */
export function parseAge(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(d|w)\s*$/.exec(value);
  if (!m) return parseDuration(value, '--older-than');
  const ms = Math.round(Number(m[1]) * (m[2] === 'w' ? 7 : 1) * 86_400_000);
  if (ms <= 0) throw new KbatchError('OPTION_INVALID', `Invalid option \`--older-than\`: must be a positive age, got ${JSON.stringify(value)}`, { field: '--older-than' });
  return ms;
}
