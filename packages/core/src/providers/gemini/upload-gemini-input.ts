import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { KbatchError, isKbatchError } from '../../errors.js';
import { LineSplitter } from '../../internal/line-splitter.js';
import { withUploadAttempts, type UploadFileOptions } from '../../client/upload-file.js';
import type { KFile } from '../../client/schemas.js';
import { geminiJson, geminiRequest, type GeminiHttp } from './gemini-http.js';
import { toGeminiLine } from './gemini-lines.js';

/** Bytes per resumable-upload request (what @google/genai sends; a multiple of Google's 256 KiB granule). */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

/** Gemini's limit on a batch input file ("up to 2GB", read as decimal), measured on the converted `{key, request}` lines. */
export const GEMINI_FILE_LIMIT = 2_000_000_000;

/** What the file id kbatch records carries after the Gemini file name: the model its lines use (the create URL needs it). */
export const MODEL_MARK = '#model=';

/**
 * The displayName kbatch uploads a chunk under: the upload's name (`<job>-part-<index>.jsonl`, which finds a job's
 * uploads after a crash) and the model, so a listed file gives back the very id kbatch records (see {@link listGeminiUploads}).
 */
export const uploadDisplayName = (filename: string, model: string): string => `${filename}${MODEL_MARK}${model}`;

/** A recorded input file id split into the Gemini file name and the model (undefined for a bare name). */
export function splitInputId(id: string): { file: string; model: string | undefined } {
  const at = id.indexOf(MODEL_MARK);
  return at < 0 ? { file: id, model: undefined } : { file: id.slice(0, at), model: id.slice(at + MODEL_MARK.length) };
}

/**
 * Upload a kbatch chunk as Gemini's batch input (`{key, request}` lines), converted line by line while it streams
 * to the Files API's resumable upload in 8 MiB requests (memory: one request's bytes). The first line is converted
 * before anything is sent, so a parameter Gemini does not take fails with nothing uploaded. The original chunk's
 * sha256 is checked before the finalizing request (a changed file is never completed: JOB_MISMATCH). Transient
 * failures start the upload again, up to `maxAttempts`. The converted file is stopped past `fileLimit` (LINT_FAILED: deterministic, never retried), before finalizing.
 * @returns the file, its id `files/ID#model=MODEL` (one model per chunk, as lint keeps it)
 */
export async function uploadGeminiInput(http: GeminiHttp, path: string, options: UploadFileOptions = {}, fileLimit = GEMINI_FILE_LIMIT): Promise<KFile> {
  return withUploadAttempts(path, options, () => uploadOnce({ http, path, options, fileLimit }), ' to Gemini');
}

async function uploadOnce(target: Omit<UploadSession, 'session' | 'sent'>): Promise<KFile> {
  const { http, path, options } = target;
  const hash = createHash('sha256');
  const lines = convertedLines(path, hash);
  // A failed attempt must not leave the chunk file open: the generator is closed however the attempt ends.
  try {
    const first = await lines.next();
    if (first.done) throw new KbatchError('LINE_INVALID', `${path} holds no request`, { file: path });
    const session = await startUpload(http, options, first.value.model);
    const sent = { offset: 0 };
    try {
      return await streamConverted({ ...target, session, sent }, first.value, lines, hash);
    } catch (error) {
      // The first line passed before anything was sent; a later one fails mid-upload (an unfinalized upload, no batch).
      if (isKbatchError(error) && (error.code === 'PARAM_UNSUPPORTED' || error.code === 'LINE_INVALID')) {
        error.message = `${error.message.replace(/; nothing was sent$/, '')}; the upload of ${path} stopped after ${sent.offset} bytes, unfinalized (no batch was created); \`kbatch lint --provider gemini\` lists every such line`;
      }
      throw error;
    }
  } finally {
    await lines.return(undefined);
  }
}

interface UploadSession {
  http: GeminiHttp;
  path: string;
  options: UploadFileOptions;
  /** Most bytes of the converted file (Gemini's limit: GEMINI_FILE_LIMIT). */
  fileLimit: number;
  /** The session URL's path. */
  session: string;
  /** Bytes the server holds so far. */
  sent: { offset: number };
}

type ConvertedLine = { key: string; model: string; line: string };

// Send the converted lines in UPLOAD_CHUNK_BYTES requests, then finalize (after the sha256 and size checks).
async function streamConverted(up: UploadSession, first: ConvertedLine, lines: AsyncGenerator<ConvertedLine>, hash: ReturnType<typeof createHash>): Promise<KFile> {
  const { http, path, options, sent } = up;
  const model = first.model;
  let pending: Buffer[] = [Buffer.from(`${first.line}\n`)];
  let size = pending[0]!.length;
  // No retry of one request: a chunk whose answer was lost may have landed, so the whole upload starts again instead.
  const send = async (bytes: Buffer, command: string): Promise<unknown> => {
    const res = await geminiJson(http, { method: 'POST', path: up.session, body: bytes, headers: { 'x-goog-upload-command': command, 'x-goog-upload-offset': String(sent.offset), 'content-length': String(bytes.length) }, signal: options.signal, maxRetries: 0 });
    sent.offset += bytes.length;
    return res;
  };
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    if (next.value.model !== model) throw new KbatchError('LINT_FAILED', `${path}: request ${next.value.key} uses model ${next.value.model}, an earlier one ${model}: provider gemini takes one model per batch`, { file: path });
    const bytes = Buffer.from(`${next.value.line}\n`);
    pending.push(bytes);
    size += bytes.length;
    assertWithinFileLimit(path, sent.offset + size, up.fileLimit);
    while (size >= UPLOAD_CHUNK_BYTES) {
      const all = Buffer.concat(pending);
      await send(all.subarray(0, UPLOAD_CHUNK_BYTES), 'upload');
      pending = [all.subarray(UPLOAD_CHUNK_BYTES)];
      size = pending[0]!.length;
    }
  }
  assertWithinFileLimit(path, sent.offset + size, up.fileLimit);
  if (options.expectedSha256 !== undefined && hash.digest('hex') !== options.expectedSha256) {
    throw new KbatchError('JOB_MISMATCH', `${path} changed after the job recorded it (sha256 differs); upload aborted`, { file: path });
  }
  const answer = (await send(Buffer.concat(pending), 'upload, finalize')) as { file?: { name?: string; sizeBytes?: string | number; createTime?: string; displayName?: string } };
  const file = answer.file ?? (answer as { name?: string });
  if (typeof file.name !== 'string') throw new KbatchError('RESPONSE_INVALID', `The Gemini upload of ${path} ended without a file name`, { file: path });
  return { id: `${file.name}${MODEL_MARK}${model}`, object: 'file', bytes: Number((file as { sizeBytes?: unknown }).sizeBytes ?? sent.offset), created_at: null, filename: options.filename ?? null, purpose: 'batch' };
}

// Gemini measures the converted file: past its limit, stop before the finalize request (the profile's maxBytes keeps a margin for this).
function assertWithinFileLimit(path: string, convertedBytes: number, limit: number): void {
  if (convertedBytes <= limit) return;
  throw new KbatchError('LINT_FAILED', `${path} converts to more than ${limit} bytes, Gemini's input file limit ("up to 2GB"); the upload was stopped unfinalized (no batch was created): chunk it smaller (--max-bytes)`, { file: path });
}

// Start a resumable upload: the session URL's path (its origin is ours: @google/genai rewrites it the same way).
async function startUpload(http: GeminiHttp, options: UploadFileOptions, model: string): Promise<string> {
  const res = await geminiRequest(http, {
    method: 'POST',
    path: 'upload/v1beta/files',
    json: { file: { displayName: uploadDisplayName(options.filename ?? 'kbatch-input.jsonl', model), mimeType: 'application/jsonl' } },
    headers: { 'x-goog-upload-protocol': 'resumable', 'x-goog-upload-command': 'start', 'x-goog-upload-header-content-type': 'application/jsonl' },
    signal: options.signal,
  });
  await res.body.dump();
  const url = res.headers['x-goog-upload-url'];
  if (typeof url !== 'string' || url === '') throw new KbatchError('RESPONSE_INVALID', 'The Gemini upload start sent no x-goog-upload-url header');
  const parsed = new URL(url, http.origin);
  return `${parsed.pathname.replace(/^\/+/, '')}${parsed.search}`;
}

// The chunk's lines converted, hashing the raw bytes as they are read (blank lines are skipped, as servers do).
async function* convertedLines(path: string, hash: ReturnType<typeof createHash>): AsyncGenerator<{ key: string; model: string; line: string }> {
  const splitter = new LineSplitter();
  let lineNo = 0;
  const convert = function* (lines: Buffer[]) {
    for (const raw of lines) {
      lineNo++;
      const text = raw.toString('utf8');
      if (text.trim() === '') continue;
      yield toGeminiLine(text, lineNo);
    }
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    yield* convert(splitter.push(chunk));
  }
  yield* convert(splitter.end());
}

/** A Gemini File as the Files API lists it (the fields kbatch reads). */
interface GeminiFile {
  name?: string;
  displayName?: string;
  sizeBytes?: string | number;
  createTime?: string;
}

/**
 * The account's files that kbatch uploaded as batch input, as OpenAI file objects whose id is the one kbatch recorded
 * (`files/ID#model=MODEL`, from the displayName) and whose filename is the upload's name: what `files.list` gives the
 * job's cleanup of uploads a crash left unrecorded. A file without kbatch's mark (uploaded elsewhere, or by a kbatch
 * before the mark) is not listed, so it is never taken for one of a job's uploads. Paged by pageToken (100 a page).
 */
export async function* listGeminiUploads(http: GeminiHttp, options: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<KFile> {
  let pageToken: string | undefined;
  do {
    const page = (await geminiJson(http, { method: 'GET', path: 'v1beta/files', query: { pageSize: 100, pageToken }, signal: options.signal })) as { files?: GeminiFile[]; nextPageToken?: string };
    for (const file of page.files ?? []) {
      const mark = file.displayName?.lastIndexOf(MODEL_MARK) ?? -1;
      if (typeof file.name !== 'string' || mark < 0) continue;
      const created = file.createTime === undefined ? Number.NaN : Date.parse(file.createTime);
      yield {
        id: `${file.name}${MODEL_MARK}${file.displayName!.slice(mark + MODEL_MARK.length)}`,
        object: 'file',
        bytes: Number(file.sizeBytes ?? 0),
        created_at: Number.isNaN(created) ? null : Math.floor(created / 1000),
        filename: file.displayName!.slice(0, mark),
        purpose: 'batch',
      };
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
}
