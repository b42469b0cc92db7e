// The together personality: Together's files (presigned upload) and Batch API over the emulator's own lifecycle.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { HttpError, badRequest, notFound, sendJson } from '../errors.js';
import { newId, nowSeconds } from '../internal/ids.js';
import { readJson, type Route, type RouteContext } from '../internal/http.js';
import type { BatchLifecycle } from '../lifecycle.js';
import type { ResolvedFaults } from '../options.js';
import { commitFile, type BatchObject, type FileObject, type Store, type Stored } from '../store.js';
import { batchJobView, togetherFileView, TOGETHER_PURPOSES } from './together-wire.js';

/** What the together routes share with the server. */
export interface TogetherRouteContext {
  store: Store;
  lifecycle: BatchLifecycle;
  /** The faults in force (read at each request: `setFaults` changes them). */
  faults: () => ResolvedFaults;
  onFile: () => void;
  onBatch: () => void;
}

/** Together's only batch window: "defaults to 24h and cannot be changed" (https://docs.together.ai/docs/inference/batch/overview). */
const WINDOW = '24h';
/** Together's batch endpoints (together-ai `BatchCreateParams.endpoint`); the emulator runs chat completions only. */
const ENDPOINT = '/v1/chat/completions';
/** Where the presigned upload URLs point (outside /v1: they stand for object storage, which takes no API key). */
const UPLOAD_PATH = '/together-upload';

/** An upload announced by `POST /v1/files`, waiting for its PUT. */
interface PendingUpload {
  token: string;
  filename: string;
  purpose: string;
}

const originOf = (req: IncomingMessage): string => `http://${req.headers.host ?? '127.0.0.1'}`;

/**
 * Together's routes, matched before the OpenAI-style ones (`startEmulator({ provider: 'together' })`): uploads are
 * announced by `POST /v1/files` (302 to a presigned URL, file id in `x-together-file-id`) and sent by a PUT of the raw
 * bytes, as the together-ai SDK's `files.upload` does; batches are created wrapped (`{job}`), listed as a bare array
 * and read with upper-case statuses. File content and delete are the shared OpenAI-style routes.
 */
export function togetherRoutes(ctx: TogetherRouteContext): Route[] {
  const pending = new Map<string, PendingUpload>();
  const jobView = lateOutputView(ctx);
  return [
    { method: 'POST', pattern: 'POST /v1/files', handler: (rc) => announceUpload(pending, rc) },
    { method: 'PUT', pattern: `PUT ${UPLOAD_PATH}/:id`, public: true, handler: (rc) => receiveUpload(ctx, pending, rc) },
    {
      method: 'GET',
      pattern: 'GET /v1/files',
      handler: async ({ res }) => sendJson(res, 200, { data: [...ctx.store.files.values()].sort((a, b) => b.seq - a.seq).map((f) => togetherFileView(f.value)) }),
    },
    { method: 'GET', pattern: 'GET /v1/files/:id', handler: async ({ res, params }) => sendJson(res, 200, togetherFileView(fileOf(ctx.store, params['id']!).value)) },
    { method: 'POST', pattern: 'POST /v1/batches', handler: (rc) => createBatch(ctx, rc) },
    {
      method: 'GET',
      pattern: 'GET /v1/batches',
      // A bare array, oldest first: Together documents neither pages nor an order.
      handler: async ({ res }) => sendJson(res, 200, [...ctx.store.batches.values()].sort((a, b) => a.seq - b.seq).map((r) => jobView(r.value))),
    },
    { method: 'GET', pattern: 'GET /v1/batches/:id', handler: async ({ res, params }) => sendJson(res, 200, jobView(batchOf(ctx.store, params['id']!).value)) },
    {
      method: 'POST',
      pattern: 'POST /v1/batches/:id/cancel',
      handler: async ({ req, res, params }) => {
        req.resume();
        const rec = batchOf(ctx.store, params['id']!);
        if ((await ctx.lifecycle.cancel(rec)) === 'not-cancellable') throw new HttpError(400, `Cannot cancel a batch with status ${jobView(rec.value)['status']}`, 'invalid_request_error', 'batch_not_cancellable', 'id');
        sendJson(res, 200, jobView(rec.value));
      },
    },
  ];
}

// POST /v1/files: the name, type and purpose come in the query (and the form body); the answer is a redirect.
async function announceUpload(pending: Map<string, PendingUpload>, { req, res, query }: RouteContext): Promise<void> {
  const form = new URLSearchParams(await readText(req));
  const field = (name: string): string | null => query.get(name) ?? form.get(name);
  const filename = field('file_name');
  const purpose = field('purpose');
  if (!filename) throw badRequest('file_name is required', 'file_name', 'missing_required_parameter');
  if (!purpose || !TOGETHER_PURPOSES.includes(purpose)) throw badRequest(`purpose must be one of ${TOGETHER_PURPOSES.join(', ')}, got ${JSON.stringify(purpose)}`, 'purpose', 'invalid_value');
  if (!['jsonl', 'csv', 'parquet'].includes(field('file_type') ?? 'jsonl')) throw badRequest('file_type must be jsonl, csv or parquet', 'file_type', 'invalid_value');
  const id = newId('file-');
  const token = randomBytes(16).toString('hex');
  pending.set(id, { token, filename: filename.split('/').pop()!, purpose });
  res.writeHead(302, { location: `${originOf(req)}${UPLOAD_PATH}/${id}?token=${token}`, 'x-together-file-id': id, 'content-length': 0 });
  res.end();
}

// PUT to the presigned URL: the raw bytes, streamed to disk (constant memory), then the file exists.
async function receiveUpload(ctx: TogetherRouteContext, pending: Map<string, PendingUpload>, { req, res, params, query }: RouteContext): Promise<void> {
  const id = params['id']!;
  const upload = pending.get(id);
  if (!upload || query.get('token') !== upload.token) {
    req.resume();
    throw new HttpError(403, 'The upload URL is not valid (unknown file or bad signature)', 'permission_error', 'signature_mismatch');
  }
  const tmp = ctx.store.tmpPath('upload');
  try {
    await pipeline(req, createWriteStream(tmp));
    const declared = req.headers['content-length'];
    const bytes = (await stat(tmp)).size;
    if (declared !== undefined && Number(declared) !== bytes) throw badRequest(`The upload sent ${bytes} bytes, not the ${declared} declared`, 'file', 'incomplete_upload');
    await commitFile(tmp, ctx.store.dataPath(id));
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  pending.delete(id);
  const rec: Stored<FileObject> = { seq: ctx.store.nextSeq(), createdMs: Date.now(), value: { id, object: 'file', bytes: (await stat(ctx.store.dataPath(id))).size, created_at: nowSeconds(), filename: upload.filename, purpose: upload.purpose } };
  ctx.store.files.set(id, rec);
  await ctx.store.save('files', rec);
  ctx.onFile();
  res.writeHead(200, { 'content-length': 0 });
  res.end();
}

// POST /v1/batches: Together's create body (no metadata), answered as `{job}`.
async function createBatch(ctx: TogetherRouteContext, { req, res }: RouteContext): Promise<void> {
  const body = (await readJson(req)) as Record<string, unknown>;
  const fileId = body['input_file_id'];
  if (typeof fileId !== 'string' || fileId === '') throw badRequest('input_file_id is required', 'input_file_id', 'missing_required_parameter');
  const file = ctx.store.files.get(fileId);
  if (!file) throw notFound(`File ${fileId} not found`, 'input_file_id');
  if (file.value.purpose !== 'batch-api') throw badRequest(`The file ${fileId} has purpose ${file.value.purpose}; a batch needs purpose batch-api`, 'input_file_id', 'invalid_value');
  if (body['endpoint'] !== ENDPOINT) throw badRequest(`endpoint must be ${ENDPOINT}, got ${JSON.stringify(body['endpoint'])}`, 'endpoint', 'invalid_value');
  const window = body['completion_window'] ?? WINDOW;
  if (window !== WINDOW) throw badRequest(`completion_window must be ${WINDOW} (it cannot be changed), got ${JSON.stringify(window)}`, 'completion_window', 'invalid_value');
  const rec = await ctx.lifecycle.create({ input_file_id: fileId, endpoint: ENDPOINT, completion_window: WINDOW, metadata: {} });
  ctx.onBatch();
  sendJson(res, 200, { job: batchJobView(rec.value, file.value.bytes) });
}

/**
 * Batches as Together's `BatchJob`, with the `outputFileLagReads` fault: an ended batch with both result files leaves
 * its output file out of its first N reads (it names its error file first).
 */
function lateOutputView(ctx: TogetherRouteContext): (b: BatchObject) => Record<string, unknown> {
  const reads = new Map<string, number>();
  return (b) => {
    const lag = ctx.faults().outputFileLagReads ?? 0;
    const bytes = ctx.store.files.get(b.input_file_id)?.value.bytes;
    if (lag === 0 || !b.output_file_id || !b.error_file_id) return batchJobView(b, bytes);
    const seen = reads.get(b.id) ?? 0;
    reads.set(b.id, seen + 1);
    return batchJobView(seen < lag ? { ...b, output_file_id: null } : b, bytes);
  };
}

function batchOf(store: Store, id: string): Stored<BatchObject> {
  const rec = store.batches.get(id);
  if (!rec) throw notFound(`Batch job ${id} not found`, 'id');
  return rec;
}

function fileOf(store: Store, id: string): Stored<FileObject> {
  const rec = store.files.get(id);
  if (!rec) throw notFound(`File ${id} not found`, 'id');
  return rec;
}

// A small form body (the upload announcement), bounded.
async function readText(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8');
    if (text.length > 64 * 1024) throw new HttpError(413, 'Request body too large', 'invalid_request_error', 'request_too_large');
  }
  return text;
}
