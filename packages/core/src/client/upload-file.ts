import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type OpenAI from 'openai';
import { httpApiError } from './http-error.js';
import { KbatchError } from '../errors.js';
import { parseFile, type KFile } from './schemas.js';
import { backoffDelay, isAbortError, isTransientError, messageOf, retryAfterMs, sleep, throwIfAborted } from './retry.js';

/** What {@link uploadFile} needs from the client: where to send and how patiently. */
export type UploadClient = Pick<OpenAI, 'apiKey' | 'baseURL' | 'maxRetries' | 'timeout'>;

/** Attempts of one upload when no option says otherwise. */
export const DEFAULT_UPLOAD_ATTEMPTS = 8;

/** Options of {@link uploadFile}. */
export interface UploadFileOptions {
  /** File purpose; `batch` for the Batch API. */
  purpose?: string;
  /** Name the server records (default: the file's basename). */
  filename?: string;
  signal?: AbortSignal;
  /**
   * Attempts in all when transient failures (429/5xx/drops) repeat (default 8): an upload storm must not abort a
   * job, and the client's own maxRetries (meant for small requests) is usually lower.
   */
  maxAttempts?: number;
  /** @deprecated use maxAttempts (maxRetries + 1 attempts). */
  maxRetries?: number;
  /**
   * The sha256 (hex) the file must have: hashed while it streams, and an upload whose bytes differ (the file was
   * edited after the job recorded it) is aborted before the server can create the file, with JOB_MISMATCH.
   */
  expectedSha256?: string;
  /**
   * The file's size and mtime when `expectedSha256` was taken: when the file still has them before it is read and
   * after, it is not hashed again (an edit changes the mtime; a touched file is hashed, as before).
   */
  expectedStat?: { size: number; mtimeMs: number };
  /** Called before each retry (for logging; never given the key). */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** Backoff base in ms (tests shorten it). */
  retryBaseMs?: number;
  /** The job directory: an adapter whose id names a local file (Anthropic's staged chunk) records it relative to this. */
  jobDir?: string;
}

/**
 * Upload a file as multipart/form-data with real backpressure: the body is a Node Readable sent through
 * `undici.request`, so a slow server slows the disk reads instead of buffering the file (Node 20's fetch, and
 * so `files.create`, buffers it). Transient failures (429/5xx/drops/timeouts) re-open the file and retry, up
 * to `maxAttempts` (default 8) attempts in all.
 * @param client - an openai client (its baseURL, apiKey, timeout and maxRetries are honoured)
 * @param path - the local file
 * @example
 * const file = await uploadFile(client, 'job/chunks/part-00001.jsonl', { purpose: 'batch' });
 */
export async function uploadFile(client: UploadClient, path: string, options: UploadFileOptions = {}): Promise<KFile> {
  const { size } = await stat(path);
  return withUploadAttempts(path, options, () => uploadOnce(client, path, size, options));
}

/**
 * Run upload attempts until one succeeds: transient failures (429/5xx/drops/timeouts) wait (Retry-After, else
 * backoff) and start again, up to `maxAttempts` (default 8) in all, then UPLOAD_FAILED; anything else is thrown.
 * @param attempt - one whole upload (it re-opens the file)
 * @param where - after the path in the UPLOAD_FAILED message (`' to Gemini'`)
 */
export async function withUploadAttempts(path: string, options: UploadFileOptions, attempt: () => Promise<KFile>, where = ''): Promise<KFile> {
  const maxAttempts = options.maxAttempts ?? (options.maxRetries === undefined ? DEFAULT_UPLOAD_ATTEMPTS : options.maxRetries + 1);
  for (let done = 0; ; done++) {
    throwIfAborted(options.signal);
    try {
      return await attempt();
    } catch (error) {
      if (isAbortError(error) || options.signal?.aborted) throw abortOr(error, options.signal);
      const mismatch = findMismatch(error);
      if (mismatch) throw mismatch;
      if (!isTransientError(error) || done + 1 >= maxAttempts) {
        if (isTransientError(error)) {
          throw new KbatchError('UPLOAD_FAILED', `Uploading ${path}${where} failed after ${done + 1} attempts: ${messageOf(error)}`, {
            file: path,
            cause: error,
          });
        }
        throw error;
      }
      const delayMs = Math.min(60_000, retryAfterMs(error) ?? backoffDelay(done, { baseMs: options.retryBaseMs ?? 500, maxMs: 8_000 }));
      options.onRetry?.({ attempt: done + 1, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }
}

async function uploadOnce(client: UploadClient, path: string, size: number, options: UploadFileOptions): Promise<KFile> {
  const boundary = `----kbatch-${randomBytes(12).toString('hex')}`;
  const filename = (options.filename ?? basename(path)).replace(/["\r\n]/g, '_');
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n${options.purpose ?? 'batch'}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      `Content-Type: application/jsonl\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const body = Readable.from(multipart(head, path, tail, await expectation(path, options)), { objectMode: false });
  const url = `${client.baseURL.replace(/\/+$/, '')}/files`;
  const res = await request(url, {
    method: 'POST',
    body,
    headers: {
      authorization: `Bearer ${client.apiKey ?? ''}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
      accept: 'application/json',
    },
    headersTimeout: client.timeout,
    bodyTimeout: client.timeout,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw httpApiError(res.statusCode, text, res.headers);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new KbatchError('RESPONSE_INVALID', `The server answered the upload of ${path} with non-JSON: ${text.slice(0, 200)}`, {
      file: path,
      cause,
    });
  }
  return parseFile(json);
}

/** How an upload checks its file is the one recorded: by its sha256, or by its unchanged size and mtime. */
export type Expectation = { sha256: string } | { stat: { size: number; mtimeMs: number } } | undefined;

/** The check an upload makes (see {@link UploadFileOptions} `expectedSha256` / `expectedStat`): none, the sha256, or the unchanged stat. */
export async function expectation(path: string, options: UploadFileOptions): Promise<Expectation> {
  const { expectedSha256: sha256, expectedStat: recorded } = options;
  if (sha256 === undefined) return undefined;
  if (recorded !== undefined && (await sameStat(path, recorded))) return { stat: recorded };
  return { sha256 };
}

async function sameStat(path: string, recorded: { size: number; mtimeMs: number }): Promise<boolean> {
  const now = await stat(path);
  return now.size === recorded.size && now.mtimeMs === recorded.mtimeMs;
}

async function* multipart(head: Buffer, path: string, tail: Buffer, expected: Expectation): AsyncGenerator<Buffer> {
  yield head;
  const hash = expected !== undefined && 'sha256' in expected ? createHash('sha256') : undefined;
  // 1 MiB reads: each waits until the socket has drained the previous one.
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash?.update(chunk as Buffer);
    yield chunk as Buffer;
  }
  // Checked before the closing boundary: without it the server never completes the file.
  await assertUnchanged(path, expected, hash);
  yield tail;
}

/**
 * After a file was read (into `hash` when `expected` is a sha256): JOB_MISMATCH when it is not the recorded one — its
 * sha256 differs, or its size or mtime changed. Callers check before sending the bytes that complete an upload.
 */
export async function assertUnchanged(path: string, expected: Expectation, hash: ReturnType<typeof createHash> | undefined): Promise<void> {
  const changed = hash ? hash.digest('hex') !== (expected as { sha256: string }).sha256 : expected !== undefined && !(await sameStat(path, (expected as { stat: { size: number; mtimeMs: number } }).stat));
  if (changed) {
    throw new KbatchError('JOB_MISMATCH', `${path} changed after the job recorded it (${hash ? 'sha256 differs' : 'size or mtime differs'}); upload aborted`, { file: path });
  }
}

// The body error may come back wrapped by undici.
function findMismatch(error: unknown): KbatchError | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof KbatchError && e.code === 'JOB_MISMATCH') return e;
  }
  return undefined;
}

function abortOr(error: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return new KbatchError('ABORTED', 'The upload was aborted', { cause: signal.reason });
  return error;
}
