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

/**
 * A reviews CSV (`id,text`) with the rows a provider run must keep intact: quotes, an embedded newline, a long
 * non-ASCII field, CJK text; plus `n` plain rows. Returns its directory, path and the ids in order.
 */
export async function reviewsCsv(n = 0, prefix = 'kbatch-reviews-'): Promise<{ dir: string; input: string; ids: string[] }> {
  const dir = await tempDir(prefix);
  const rows = ['r1,"I love it, ""great"""', 'r2,"line one\nline two — terrible"', `r3,"${'long é '.repeat(2_000)}great"`, 'r4,"日本語 awful, broken"'];
  for (let i = 5; i < 5 + n; i++) rows.push(`r${i},"review ${i} ${i % 2 ? 'good' : 'bad'}"`);
  const input = join(dir, 'reviews.csv');
  await writeFile(input, `id,text\n${rows.join('\n')}\n`);
  return { dir, input, ids: rows.map((r) => r.slice(0, r.indexOf(','))) };
}
