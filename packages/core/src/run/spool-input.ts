import { createWriteStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KbatchError } from '../errors.js';
import { hashingTap, type InputFingerprint } from './input-fingerprint.js';
import { detectFormat } from '../records/detect-format.js';
import type { InputFormat } from '../records/source-record.js';
import type { RecordsInput } from './run-options.js';

/** Where the input of a run lives once it is durable: a path to re-read, and its format. */
export interface SpooledInput {
  path: string;
  format: InputFormat;
  spooled: boolean;
  /** Set for spooled input (hashed while saving); a file path is fingerprinted while it is prepared. */
  fingerprint?: InputFingerprint;
}

/**
 * Make the input re-readable: a file path is used where it is; stdin, a byte stream or records are copied
 * into the job directory first (join and resume read the input again). Records become JSON Lines.
 * Without a format, spooled bytes are sniffed: `{` → jsonl, `[` → json, else csv.
 */
export async function spoolInput(
  input: string | Readable | RecordsInput,
  jobDir: string,
  options: { format?: InputFormat | undefined; stdin?: NodeJS.ReadableStream | undefined; cwd: string; signal?: AbortSignal | undefined },
): Promise<SpooledInput> {
  if (typeof input === 'string' && input !== '-') {
    const path = resolve(options.cwd, input);
    return { path, format: options.format ?? detectFormat(path), spooled: false };
  }
  const temp = join(jobDir, `input.${process.pid}.tmp`);
  let format = options.format;
  const isRecords = typeof input !== 'string' && !(input instanceof Readable && !input.readableObjectMode);
  let renamed = false;
  try {
    const tap = hashingTap();
    if (isRecords) {
      format = 'jsonl';
      await pipeline(Readable.from(recordLines(input as RecordsInput)), tap.stream, createWriteStream(temp), { signal: options.signal });
    } else {
      const source = input === '-' ? (options.stdin ?? process.stdin) : (input as Readable);
      await pipeline(source, tap.stream, createWriteStream(temp), { signal: options.signal });
      format ??= await sniffFormat(temp);
    }
    const path = join(jobDir, `input.${format}`);
    await rename(temp, path);
    renamed = true;
    const { size, mtimeMs } = await stat(path);
    return { path, format, spooled: true, fingerprint: { size, mtimeMs, sha256: tap.digest() } };
  } catch (err) {
    // Ctrl-C while stdin is still open: a resumable stop with nothing sent, not an internal error.
    if (options.signal?.aborted) {
      throw new KbatchError('ABORTED', 'Interrupted while saving the input; nothing was sent. Run the command again to start over', { cause: err });
    }
    throw err;
  } finally {
    if (!renamed) await unlink(temp).catch(() => {});
  }
}

async function* recordLines(records: RecordsInput): AsyncGenerator<string> {
  let n = 0;
  let batch = '';
  for await (const item of records as AsyncIterable<unknown>) {
    n++;
    const data = isSourceRecord(item) ? item.data : item;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new KbatchError('RECORD_INVALID', `record ${n} is not an object (got ${Array.isArray(data) ? 'an array' : typeof data})`, { record: n });
    }
    batch += `${JSON.stringify(data)}\n`;
    if (batch.length >= 1 << 16) {
      yield batch;
      batch = '';
    }
  }
  if (batch !== '') yield batch;
}

function isSourceRecord(item: unknown): item is { data: Record<string, unknown> } {
  return typeof item === 'object' && item !== null && 'data' in item && 'index' in item && 'line' in item && typeof (item as { data: unknown }).data === 'object';
}

async function sniffFormat(path: string): Promise<InputFormat> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart();
    if (text.startsWith('{')) return 'jsonl';
    if (text.startsWith('[')) return 'json';
    return 'csv';
  } finally {
    await handle.close();
  }
}
