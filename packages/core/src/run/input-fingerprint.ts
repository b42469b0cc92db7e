import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { pipeline, type Readable, Transform } from 'node:stream';
import { z } from 'zod';
import { KbatchError } from '../errors.js';

/** What a run remembers of its input file, so a rerun notices a changed file before joining answers onto the wrong rows. */
export const InputFingerprintSchema = z.object({ size: z.number(), mtimeMs: z.number(), sha256: z.string() });
export type InputFingerprint = z.output<typeof InputFingerprintSchema>;

/** Size and mtime of `path`, taken before its bytes are hashed (a write during the hash then shows as a change). */
async function statOf(path: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (cause) {
    throw new KbatchError('INPUT_NOT_FOUND', `the run's input file ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { file: path, cause });
  }
}

const HASH_READ_BYTES = 1 << 20;

// Large reads into one reused buffer: the hash sees each byte once, nothing else copies it.
async function sha256Of(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
    for (;;) {
      // Ctrl-C while a large input is hashed stops now, not once the whole file is read.
      if (signal?.aborted) throw new KbatchError('ABORTED', `Interrupted while reading ${path}; nothing was sent`, { file: path, cause: signal.reason });
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Fingerprint a file: size, mtime, and the sha256 of its bytes (one streaming pass, constant memory; stops when `signal` aborts). */
export async function fingerprintFile(path: string, signal?: AbortSignal): Promise<InputFingerprint> {
  const s = await statOf(path);
  return { ...s, sha256: await sha256Of(path, signal) };
}

/**
 * A pass-through that hashes the bytes it forwards (the spool fingerprints stdin while saving it, no second pass).
 * @returns the stream, a digest function to call once it has ended, and what it saw
 */
export function hashingTap(): { stream: Transform; digest: () => string; seen: () => { bytes: number; ended: boolean } } {
  const hash = createHash('sha256');
  let bytes = 0;
  let ended = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      ended = true;
      callback();
    },
  });
  return { stream, digest: () => hash.digest('hex'), seen: () => ({ bytes, ended }) };
}

/**
 * A file's bytes as a stream that fingerprints them as they pass (a run's prepare hashes its input in its own read).
 * `fingerprint()` gives the fingerprint once every byte of the size taken before the read has passed the hash (a
 * small file may pass it before the reader takes anything: the caller asks only after its read succeeded), else
 * undefined (a reader that stopped early: the caller then fingerprints the file on its own). Undefined for a path that
 * is not a regular file: its reader says what is wrong with it.
 */
export async function fingerprintingRead(path: string): Promise<{ stream: Readable; fingerprint: () => InputFingerprint | undefined } | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  const before = { size: info.size, mtimeMs: info.mtimeMs };
  const tap = hashingTap();
  // Errors of the file reach the reader through the tap; a reader that stops early closes the file.
  pipeline(createReadStream(path, { highWaterMark: HASH_READ_BYTES >> 4 }), tap.stream, () => {});
  const fingerprint = (): InputFingerprint | undefined => {
    const { bytes, ended } = tap.seen();
    return ended && bytes === before.size ? { ...before, sha256: tap.digest() } : undefined;
  };
  return { stream: tap.stream, fingerprint };
}

/**
 * Throw unless `path` still holds the bytes the run prepared from. Size differs → changed; same size and mtime →
 * unchanged (no hash pass); same size, other mtime (touched, copied) → decided by the sha256.
 * @throws KbatchError JOB_MISMATCH naming the file; INPUT_NOT_FOUND when it is gone
 */
export async function checkInputUnchanged(path: string, expected: InputFingerprint): Promise<void> {
  const now = await statOf(path);
  const changed = (detail: string): never => {
    throw new KbatchError(
      'JOB_MISMATCH',
      `the input file ${path} changed since this run prepared its requests (${detail}); the answers would be joined onto the wrong records — restore the file, or start a new run with a new --job-dir`,
      { file: path, field: 'input' },
    );
  };
  if (now.size !== expected.size) changed(`${expected.size} → ${now.size} bytes`);
  if (now.mtimeMs === expected.mtimeMs) return;
  if ((await sha256Of(path)) !== expected.sha256) changed('same size, different content');
}
