import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { KbatchError } from '../../errors.js';
import { httpApiError } from '../../client/http-error.js';
import { assertUnchanged, expectation, withUploadAttempts, type Expectation, type UploadClient, type UploadFileOptions } from '../../client/upload-file.js';
import { parseFile, type KFile } from '../../client/schemas.js';

/** The purpose Together's batch input files take (together-ai `FilePurpose`), not OpenAI's `batch`. */
export const TOGETHER_BATCH_PURPOSE = 'batch-api';

/** What the upload needs: where the API is, the key, patience, and how to read the finished file back. */
export type TogetherUploadClient = Pick<UploadClient, 'apiKey' | 'baseURL' | 'timeout'> & {
  retrieveFile: (id: string, options: { signal?: AbortSignal }) => Promise<unknown>;
};

/**
 * Upload a chunk as Together does (together-ai 0.52 `lib/upload.ts`, https://docs.together.ai/docs/inference/batch/tutorial):
 * `POST /files?file_name&file_type=jsonl&purpose=batch-api` answers 302 with a presigned URL and the file id
 * (`x-together-file-id`); the raw bytes go there by PUT, streamed from disk with backpressure (undici; the SDK's own
 * fetch upload fails on Node 20); the file is then read back (`GET /files/{id}`). The key is never sent to the
 * presigned URL. The last block is held back until the file is checked (its sha256, or its recorded size and mtime):
 * a file changed since the job recorded it is never completed (JOB_MISMATCH). Transient failures start again from the announcement, up to `maxAttempts`.
 * @returns the file (its id is what `batches.create` takes)
 */
export async function uploadTogetherInput(client: TogetherUploadClient, path: string, options: UploadFileOptions = {}): Promise<KFile> {
  return withUploadAttempts(path, options, () => uploadOnce(client, path, options), ' to Together');
}

async function uploadOnce(client: TogetherUploadClient, path: string, options: UploadFileOptions): Promise<KFile> {
  const { size } = await stat(path);
  const { url, fileId } = await announce(client, options.filename ?? basename(path), options.signal);
  const res = await request(url, {
    method: 'PUT',
    body: Readable.from(heldBack(path, await expectation(path, options)), { objectMode: false }),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    ...timeouts(client),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw httpApiError(res.statusCode, text, res.headers);
  return parseFile(await client.retrieveFile(fileId, options.signal ? { signal: options.signal } : {}));
}

// Announce the upload: Together answers with where to PUT the bytes (302 Location) and the file's id.
async function announce(client: TogetherUploadClient, filename: string, signal: AbortSignal | undefined): Promise<{ url: string; fileId: string }> {
  const params = new URLSearchParams({ file_name: filename, file_type: 'jsonl', purpose: TOGETHER_BATCH_PURPOSE });
  const res = await request(`${client.baseURL.replace(/\/+$/, '')}/files?${params}`, {
    method: 'POST',
    body: params.toString(),
    headers: { authorization: `Bearer ${client.apiKey ?? ''}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    ...timeouts(client),
    ...(signal ? { signal } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw httpApiError(res.statusCode, text, res.headers);
  const location = res.headers['location'];
  const fileId = res.headers['x-together-file-id'];
  if (res.statusCode !== 302 || typeof location !== 'string' || location === '' || typeof fileId !== 'string' || fileId === '') {
    throw new KbatchError('RESPONSE_INVALID', `Together answered the upload announcement with HTTP ${res.statusCode}, not a redirect naming the upload URL and x-together-file-id`);
  }
  return { url: new URL(location, client.baseURL).toString(), fileId };
}

const timeouts = (client: Pick<UploadClient, 'timeout'>) => (client.timeout === undefined ? {} : { headersTimeout: client.timeout, bodyTimeout: client.timeout });

/**
 * The file's blocks, each sent once the next is read, the last only after the file proved unchanged (else the PUT never
 * completes): by its sha256, or — when its size and mtime are still the recorded ones — by those, as uploadFile does.
 */
async function* heldBack(path: string, expected: Expectation): AsyncGenerator<Buffer> {
  const hash = expected !== undefined && 'sha256' in expected ? createHash('sha256') : undefined;
  let previous: Buffer | undefined;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash?.update(chunk);
    if (previous) yield previous;
    previous = chunk;
  }
  await assertUnchanged(path, expected, hash);
  if (previous) yield previous;
}
