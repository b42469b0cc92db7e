// A chunk file (kbatch's OpenAI-shaped request lines) staged for an inline create, and streamed as its request body.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { existsSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { KbatchError, isKbatchError } from '../../errors.js';
import { LineBreaker, readFileLines } from '../../job/lines.js';
import type { KFile } from '../../client/schemas.js';
import { chunkTag, encodeCustomId } from './custom-id-codec.js';
import { DEFAULT_MAX_TOKENS, LISTED_UNSUPPORTED_PARAMS, toMessagesParams } from './to-messages-params.js';

/**
 * The id of a staged chunk, `local-chunk:<sha256>:<path>`: Anthropic has no file upload (the requests go inline in the
 * create call); the create checks the chunk against the sha256 as it streams it, and the tag (the sha256's first 8
 * hex digits) goes in front of every custom_id sent. The path is relative to the job directory when staged for a job
 * (see {@link resolveStagedId}); ids staged before hold an absolute path, older ones the tag only (`local-chunk:<tag>:<path>`).
 */
export const LOCAL_CHUNK_PREFIX = 'local-chunk:';

/** The chunk a staged id names, its tag and (in ids staged since the create checks it) its sha256; null for another id. */
export function stagedChunk(fileId: string): { tag: string; sha256?: string; path: string } | null {
  const match = /^local-chunk:([0-9a-f]{64}|[0-9a-f]{8}):(.+)$/s.exec(fileId);
  if (!match) return null;
  const hex = match[1]!;
  return hex.length === 64 ? { tag: chunkTag(hex), sha256: hex, path: match[2]! } : { tag: hex, path: match[2]! };
}

/**
 * A staged id as the create takes it: a path relative to the job directory resolved against it, so a job directory
 * moved between staging and create still finds its chunk. An id staged before ids were relative holds an absolute
 * path: when the part's chunk where it is now is the staged one (its sha256, or an old id's tag) and the old path is
 * not (a move left it empty, or another job's chunk now lies there), the part's chunk is sent instead; the create
 * checks what it sends as it streams it, so a different file is never sent as this one. A tag-only id takes the
 * part's recorded sha256 when the tags agree, so the create checks the whole digest.
 * @param fileId - the id the manifest recorded; any other id is returned unchanged
 * @param where.jobDir - the job directory now; where.chunkPath - the part's chunk file now; where.sha256 - its recorded sha256
 * @throws KbatchError JOB_INVALID for a relative path that leaves the job directory (kbatch never records one)
 */
export async function resolveStagedId(fileId: string, where: { jobDir: string; chunkPath?: string | undefined; sha256?: string | undefined }): Promise<string> {
  const chunk = stagedChunk(fileId);
  if (chunk === null) return fileId;
  const sha256 = chunk.sha256 ?? (where.sha256 !== undefined && chunkTag(where.sha256) === chunk.tag ? where.sha256 : undefined);
  const head = `${LOCAL_CHUNK_PREFIX}${sha256 ?? chunk.tag}:`;
  if (!isAbsolute(chunk.path)) {
    const path = join(where.jobDir, chunk.path);
    const inside = relative(resolve(where.jobDir), resolve(path));
    if (inside === '' || inside.split(sep)[0] === '..' || isAbsolute(inside)) {
      throw new KbatchError('JOB_INVALID', `the staged id ${fileId} names a chunk outside the job directory (kbatch records none)`, { fileId });
    }
    return `${head}${path}`;
  }
  const now = where.chunkPath === undefined ? chunk.path : resolve(where.chunkPath);
  if (now === chunk.path) return `${head}${chunk.path}`;
  const staged = async (path: string): Promise<boolean> => {
    const sha = await sha256Of(path).catch(() => null);
    return sha !== null && (sha256 !== undefined ? sha === sha256 : chunkTag(sha) === chunk.tag);
  };
  if (existsSync(chunk.path) && (await staged(chunk.path))) return `${head}${chunk.path}`;
  return !existsSync(chunk.path) || (await staged(now)) ? `${head}${now}` : `${head}${chunk.path}`;
}

// The path a staged id records: relative to the job directory when the chunk lies inside it, else absolute.
function stagedPath(path: string, jobDir: string | undefined): string {
  const absolute = resolve(path);
  if (jobDir === undefined) return absolute;
  const rel = relative(resolve(jobDir), absolute);
  return rel === '' || isAbsolute(rel) || rel.split(sep)[0] === '..' ? absolute : rel;
}

/** One request line → the JSON text of one Anthropic batch request `{custom_id, params}` (pure). */
export function toBatchRequestText(text: string, line: number, { defaultMaxTokens, tag }: { defaultMaxTokens: number; tag: string }): string {
  let request: { custom_id?: unknown; body?: unknown };
  try {
    request = JSON.parse(text) as typeof request;
  } catch (cause) {
    throw new KbatchError('LINE_INVALID', `line ${line} is not valid JSON`, { line, cause });
  }
  const id = request?.custom_id;
  if (typeof id !== 'string' || id === '') throw new KbatchError('LINE_INVALID', `line ${line} has no custom_id`, { line });
  if (typeof request.body !== 'object' || request.body === null) throw new KbatchError('LINE_INVALID', `line ${line} has no body`, { line, customId: id });
  try {
    return JSON.stringify({ custom_id: encodeCustomId(id, tag), params: toMessagesParams(request.body as Record<string, unknown>, defaultMaxTokens) });
  } catch (error) {
    if (!isKbatchError(error)) throw error;
    throw new KbatchError(error.code, `line ${line} (custom_id ${id}): ${error.message}`, { line, customId: id, ...(error.field ? { field: error.field } : {}) });
  }
}

/**
 * Check one request line as the adapter maps it (what `NATIVE_REQUEST_CHECKS['anthropic-batch']` runs before anything
 * is sent). The parameters lint already reports by name, on every line, are left to it; a line that is not JSON too.
 * @throws KbatchError what staging would: PARAM_UNSUPPORTED, LINE_INVALID or CUSTOM_ID_INVALID, naming the line
 */
export function checkRequestLine(text: string, line: number): void {
  let request: { body?: unknown };
  try {
    request = JSON.parse(text) as typeof request;
  } catch {
    return;
  }
  if (typeof request?.body === 'object' && request.body !== null) {
    const body = { ...(request.body as Record<string, unknown>) };
    for (const param of LISTED_UNSUPPORTED_PARAMS) delete body[param];
    request = { ...request, body };
  }
  toBatchRequestText(JSON.stringify(request), line, { defaultMaxTokens: DEFAULT_MAX_TOKENS, tag: '00000000' });
}

/** What staging checks: the chunk's recorded sha256; and the max_tokens default. */
export interface ChunkReadOptions {
  expectedSha256?: string | undefined;
  defaultMaxTokens: number;
  /** The job directory: the id records the chunk's path relative to it (absolute without it). */
  jobDir?: string | undefined;
}

/**
 * The create body `{"requests":[…]}` of a chunk, converted line by line (constant memory: one block at a time). The
 * chunk is hashed as it is read, and the body fails before its closing bytes when the chunk is not the staged one
 * (its sha256, or for an old staged id its tag, differs): the server never receives a complete create.
 * @throws KbatchError JOB_MISMATCH when the chunk changed after it was staged
 */
export async function* createBody(path: string, options: { defaultMaxTokens: number; tag: string; sha256?: string | undefined }): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const lines = new LineBreaker();
  let first = true;
  const convert = ({ line, text }: { line: number; text: string }): Buffer => {
    const out = Buffer.from((first ? '' : ',') + toBatchRequestText(text, line, options), 'utf8');
    first = false;
    return out;
  };
  yield Buffer.from('{"requests":[');
  await access(path).catch((cause: unknown) => {
    throw new KbatchError('JOB_MISMATCH', `the staged chunk ${path} is gone (was the job directory moved or the chunk deleted after staging?): nothing was created; restore it there and resume`, { file: path, cause });
  });
  for await (const block of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(block as Buffer);
    for (const item of lines.push(block as Buffer)) yield convert(item);
  }
  for (const item of lines.end()) yield convert(item);
  const sha = hash.digest('hex');
  if (options.sha256 !== undefined ? sha !== options.sha256 : chunkTag(sha) !== options.tag) {
    throw new KbatchError('JOB_MISMATCH', `${path} changed after it was staged (sha256 differs); create aborted before the request was complete`, { file: path });
  }
  yield Buffer.from(']}');
}

/**
 * Stage a chunk for an inline create: its sha256 is checked (and gives its tag), and every line is converted once,
 * so a bad one fails here, before any create. Nothing is sent.
 * @returns a file object whose id names the chunk (`local-chunk:<sha256>:<path>`, the path relative to `jobDir` when given)
 */
export async function stageChunk(path: string, options: ChunkReadOptions & { filename?: string }): Promise<KFile> {
  const sha = await sha256Of(path);
  if (options.expectedSha256 !== undefined && sha !== options.expectedSha256) throw new KbatchError('JOB_MISMATCH', `${path} changed after the job recorded it (sha256 differs)`, { file: path });
  const convert = { defaultMaxTokens: options.defaultMaxTokens, tag: chunkTag(sha) };
  let requests = 0;
  for await (const { line, text } of readFileLines(path)) {
    toBatchRequestText(text, line, convert);
    requests++;
  }
  if (requests === 0) throw new KbatchError('LINE_INVALID', `${path} holds no requests`, { file: path });
  const { size } = await stat(path);
  return { id: `${LOCAL_CHUNK_PREFIX}${sha}:${stagedPath(path, options.jobDir)}`, object: 'file', bytes: size, created_at: Math.floor(Date.now() / 1000), filename: options.filename ?? basename(path), purpose: 'batch' };
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const block of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(block as Buffer);
  return hash.digest('hex');
}
