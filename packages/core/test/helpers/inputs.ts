import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** A fresh temporary directory for a test. */
export function tempDir(prefix = 'kbatch-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Write `content` to `name` in a fresh temp dir and return the path. */
export async function tempFile(name: string, content: string | Buffer): Promise<string> {
  const path = join(await tempDir(), name);
  await writeFile(path, content);
  return path;
}

/** A byte stream over `text`, cut into pieces of `size` bytes (to test records spanning chunks). */
export function byteStream(text: string | Buffer, size = Infinity): Readable {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const pieces: Buffer[] = [];
  const step = Number.isFinite(size) ? size : Math.max(1, bytes.length);
  for (let i = 0; i < bytes.length; i += step) pieces.push(bytes.subarray(i, i + step));
  return Readable.from(pieces, { objectMode: false });
}
