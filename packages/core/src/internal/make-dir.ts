import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KbatchError } from '../errors.js';

/**
 * Create `dir` and its missing parents one level at a time (never Node's recursive mkdir: it spins on a path under
 * /proc). The deepest existing ancestor must be a directory.
 * @param what - what the directory is, for the message ("job directory")
 * @throws KbatchError OUTPUT_UNWRITABLE naming the path and the reason (ENOENT, EACCES, EROFS, not a directory…)
 */
export async function makeDir(dir: string, what: string): Promise<void> {
  const missing: string[] = [];
  let at = dir;
  for (;;) {
    const info = await stat(at).catch((err: NodeJS.ErrnoException) => err);
    if (!(info instanceof Error)) {
      if (!info.isDirectory()) fail(dir, what, `${at} is not a directory`);
      break;
    }
    if (info.code !== 'ENOENT' || dirname(at) === at) fail(dir, what, `${at}: ${info.code ?? info.message}`, info);
    missing.unshift(at);
    at = dirname(at);
  }
  for (const level of missing) {
    try {
      await mkdir(level);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') fail(dir, what, `${level}: ${code ?? (cause as Error).message}`, cause);
    }
  }
}

function fail(dir: string, what: string, reason: string, cause?: unknown): never {
  throw new KbatchError('OUTPUT_UNWRITABLE', `cannot create the ${what} ${dir} (${reason})`, { file: dir, cause });
}
