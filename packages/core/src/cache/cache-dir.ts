// Where the request cache lives: an option, KBATCH_CACHE_DIR, or the user's cache directory.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The request cache's directory: `cache` when it is a path (relative to `cwd`), null when it is `false`, else
 * `KBATCH_CACHE_DIR`, else the user's cache directory (`$XDG_CACHE_HOME/kbatch` or `~/.cache/kbatch`; on macOS
 * `~/Library/Caches/kbatch`; on Windows `%LOCALAPPDATA%\kbatch\cache`).
 * @example cacheDir(undefined, { env: { KBATCH_CACHE_DIR: '/tmp/c' } }) // '/tmp/c'
 */
export function cacheDir(cache: string | false | undefined, where: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string | null {
  const cwd = where.cwd ?? process.cwd();
  const env = where.env ?? process.env;
  if (cache === false) return null;
  if (typeof cache === 'string') return resolve(cwd, cache);
  const fromEnv = env['KBATCH_CACHE_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(cwd, fromEnv);
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'kbatch');
  if (process.platform === 'win32') return join(env['LOCALAPPDATA'] ?? join(homedir(), 'AppData', 'Local'), 'kbatch', 'cache');
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'kbatch');
}
