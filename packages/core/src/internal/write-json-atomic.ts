import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Write `value` as pretty JSON atomically and durably: temp file beside it, fsync, rename, fsync of the
 * directory. A crash leaves the old or the new file, never a torn one, and the rename survives a power loss.
 * @example await writeJsonAtomic(join(jobDir, 'run.json'), state);
 */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  await fsyncDir(dirname(file));
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}
