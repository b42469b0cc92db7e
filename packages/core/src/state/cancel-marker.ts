import { existsSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Written by `kbatch cancel` while another process drives the job; that process stops creating batches. */
export const CANCEL_MARKER_FILE = 'cancel-requested';

/** Record a cancel request atomically (temp file + rename); returns its time. */
export async function writeCancelMarker(jobDir: string): Promise<string> {
  const at = new Date().toISOString();
  const file = join(jobDir, CANCEL_MARKER_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${at}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  return at;
}

/** The time of a recorded cancel request, or undefined. */
export async function readCancelMarker(jobDir: string): Promise<string | undefined> {
  const file = join(jobDir, CANCEL_MARKER_FILE);
  // Asked on every poll: one stat while there is no marker (no open, no error object made).
  if (!existsSync(file)) return undefined;
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text || new Date().toISOString();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
