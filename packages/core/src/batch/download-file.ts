import { createWriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type OpenAI from 'openai';
import { KbatchError } from '../errors.js';
import { backoffDelay, isAbortError, isTransientError, retryAfterMs, sleep, throwIfAborted } from '../client/retry.js';
import { withRequestSignal } from '../internal/request-signal.js';
import { plainClientOf, plainGet, plainPathId } from '../client/plain-get.js';

/** Options of {@link downloadFile}. */
export interface DownloadFileOptions {
  signal?: AbortSignal;
  /** Lines the server says the file has (request_counts); fewer received means a short download, retried. */
  expectedLines?: number;
  /** Attempts in all (default 4). */
  maxAttempts?: number;
  /** Backoff base in ms. */
  retryBaseMs?: number;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /**
   * Called at the start of each attempt; the function it returns sees every counted line as it streams by (a view
   * without its line break, valid only during the call, with its 1-based physical line number and its byte offset
   * in the file), so a caller can
   * read the lines without reading the file again. Only the last attempt's lines make the file.
   */
  inspect?: () => (line: Buffer, lineNo: number, offset: number) => void;
}

/** What a download wrote. */
export interface DownloadResult {
  path: string;
  lines: number;
  bytes: number;
}

/**
 * Stream a file's content to `dest` (temp file + rename; never held in memory), counting its lines.
 * Short downloads and transient failures are retried; still short after the last attempt → DOWNLOAD_INCOMPLETE.
 * @param client - needs only `files.content`
 * @example
 * await downloadFile(client.files, batch.output_file_id, 'job/results/part-00001.output.jsonl', { expectedLines: 100 });
 */
export async function downloadFile(
  client: Pick<OpenAI['files'], 'content'>,
  fileId: string,
  dest: string,
  options: DownloadFileOptions = {},
): Promise<DownloadResult> {
  const maxAttempts = options.maxAttempts ?? 4;
  await mkdir(dirname(dest), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    let error: unknown;
    try {
      const result = await downloadOnce(client, fileId, dest, options);
      if (options.expectedLines === undefined || result.lines >= options.expectedLines) return result;
      error = new KbatchError(
        'DOWNLOAD_INCOMPLETE',
        `File ${fileId} downloaded with ${result.lines} lines, the batch reports ${options.expectedLines}`,
        { fileId, file: dest },
      );
    } catch (err) {
      if (isAbortError(err) || options.signal?.aborted) throw err;
      if (!isTransientError(err)) throw err;
      error = err;
    }
    if (attempt + 1 >= maxAttempts) {
      if (error instanceof KbatchError && error.code === 'DOWNLOAD_INCOMPLETE') throw error;
      throw new KbatchError('DOWNLOAD_INCOMPLETE', `Downloading file ${fileId} failed after ${maxAttempts} attempts`, {
        fileId,
        file: dest,
        cause: error,
      });
    }
    const delayMs = Math.min(60_000, retryAfterMs(error) ?? backoffDelay(attempt, { baseMs: options.retryBaseMs ?? 500, maxMs: 8_000 }));
    options.onRetry?.({ attempt: attempt + 1, delayMs, error });
    await sleep(delayMs, options.signal);
  }
}

async function downloadOnce(
  client: Pick<OpenAI['files'], 'content'>,
  fileId: string,
  dest: string,
  options: DownloadFileOptions,
): Promise<DownloadResult> {
  return withRequestSignal(options.signal, (signal) => downloadWith(client, fileId, dest, { signal, inspect: options.inspect?.() }));
}

async function downloadWith(
  client: Pick<OpenAI['files'], 'content'>,
  fileId: string,
  dest: string,
  { signal, inspect }: { signal: AbortSignal | undefined; inspect: ((line: Buffer, lineNo: number, offset: number) => void) | undefined },
): Promise<DownloadResult> {
  const body = await contentOf(client, fileId, signal);
  const temp = `${dest}.download`;
  const counter = lineCounter(inspect);
  try {
    await pipeline(body, counter, coalesce(WRITE_BYTES), createWriteStream(temp, { highWaterMark: WRITE_BYTES }), ...(signal ? [{ signal }] : []));
    await rename(temp, dest);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  return { path: dest, lines: counter.lines, bytes: counter.bytes };
}

// A plain openai client's file is read over undici's Node stream; any other client (native adapters convert results
// in their `files.content`), or a response the plain path does not take, goes through `files.content`.
async function contentOf(client: Pick<OpenAI['files'], 'content'>, fileId: string, signal: AbortSignal | undefined): Promise<Readable> {
  const plain = plainPathId(fileId) ? plainClientOf(client, 'content') : undefined;
  const raw = plain ? await plainGet(plain, { path: `/files/${fileId}/content`, headers: { Accept: 'application/binary' }, signal }) : undefined;
  if (raw) return raw.body;
  const response = await client.content(fileId, signal ? { signal } : undefined);
  return response.body ? Readable.fromWeb(response.body as import('node:stream/web').ReadableStream) : Readable.from([]);
}

/** Bytes per write of a downloaded file: 64 KB network reads written one by one cost ~0.5 s of CPU per GB more. */
const WRITE_BYTES = 1 << 20;

// Joins consecutive chunks into writes of at least `bytes` (the last may be shorter); never holds more than that.
function coalesce(bytes: number): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      pending.push(chunk);
      size += chunk.length;
      if (size < bytes) return cb();
      const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
      pending = [];
      size = 0;
      cb(null, out);
    },
    flush(cb) {
      cb(null, size === 0 ? undefined : Buffer.concat(pending, size));
    },
  });
}

// Counts non-empty lines (any byte but CR, LF and space is content), hands each to `inspect`, and makes sure the
// file ends with a newline (so parts concatenate cleanly). Line breaks are found with indexOf, not byte by byte.
function lineCounter(inspect?: (line: Buffer, lineNo: number, offset: number) => void): Transform & { lines: number; bytes: number } {
  let content = false; // the unfinished line so far has content
  // The unfinished line's pieces (kept only for `inspect`), joined once at its end: a long line stays linear.
  let rest: Buffer[] = [];
  let physical = 0;
  let last = 0x0a;
  /** Byte offset in the file of the line being read. */
  let lineOffset = 0;
  const counted = (line: Buffer): void => {
    t.lines++;
    inspect?.(line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line, physical, lineOffset);
  };
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        physical++;
        if (content || hasContent(chunk, start, nl)) counted(rest.length === 0 ? chunk.subarray(start, nl) : Buffer.concat([...rest, chunk.subarray(start, nl)]));
        rest = [];
        content = false;
        start = nl + 1;
        lineOffset = t.bytes + start;
      }
      if (start < chunk.length) {
        content ||= hasContent(chunk, start, chunk.length);
        if (inspect) rest.push(Buffer.from(chunk.subarray(start)));
      }
      if (chunk.length) last = chunk[chunk.length - 1]!;
      t.bytes += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      if (content) {
        physical++;
        counted(Buffer.concat(rest));
      }
      cb(null, last !== 0x0a && t.bytes > 0 ? '\n' : undefined);
    },
  }) as Transform & { lines: number; bytes: number };
  t.lines = 0;
  t.bytes = 0;
  return t;
}

function hasContent(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b !== 0x0d && b !== 0x20) return true;
  }
  return false;
}
