import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import type { ServerResponse } from 'node:http';
import { sendJson } from '../errors.js';
import { newId, nowSeconds } from '../internal/ids.js';
import type { Route, RouteContext } from '../internal/http.js';
import { commitFile, type FileObject, type Store, type Stored } from '../store.js';
import { googleError, googlePage, isoTime, responsesLineOf, type GeminiBatchMeta } from './gemini-wire.js';

/** The purpose the personality stores Gemini uploads under (the OpenAI routes never take them for a batch). */
export const GEMINI_INPUT_PURPOSE = 'gemini-batch-input';

/** One resumable upload in progress. */
interface UploadSession {
  tmp: string;
  bytes: number;
  displayName: string;
  mimeType: string;
}


/** A stored file as Gemini's File (48 hours of retention, as the docs say). */
function fileView(f: FileObject): Record<string, unknown> {
  return {
    name: `files/${f.id}`,
    displayName: f.filename,
    mimeType: 'application/jsonl',
    sizeBytes: String(f.bytes),
    createTime: isoTime(f.created_at),
    updateTime: isoTime(f.created_at),
    expirationTime: isoTime(f.created_at + 48 * 3600),
    uri: `files/${f.id}`,
    state: 'ACTIVE',
    source: 'UPLOADED',
  };
}

/** A Gemini file id (`files/ID` or `ID`) → the stored file, or a 404. */
export function geminiFile(store: Store, name: string): Stored<FileObject> {
  const rec = store.files.get(name.replace(/^files\//, ''));
  if (!rec || rec.value.purpose !== GEMINI_INPUT_PURPOSE) throw googleError(404, `File ${name} does not exist or you do not have permission to access it.`);
  return rec;
}

/** Resumable uploads: `start` opens a session (its URL in x-goog-upload-url); `upload[, finalize]` appends at the given offset. */
function uploadHandler(store: Store, maxBytes: number, onCreated: () => void) {
  const sessions = new Map<string, UploadSession>();
  return async ({ req, res, query }: RouteContext): Promise<void> => {
    const command = String(req.headers['x-goog-upload-command'] ?? '').toLowerCase();
    if (command === 'start') {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      const meta = (chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}) as { file?: { displayName?: string; display_name?: string; mimeType?: string } };
      const id = newId('');
      sessions.set(id, { tmp: store.tmpPath('gemini-upload'), bytes: 0, displayName: meta.file?.displayName ?? meta.file?.display_name ?? 'upload.jsonl', mimeType: meta.file?.mimeType ?? 'application/jsonl' });
      const host = req.headers.host ?? '127.0.0.1';
      res.writeHead(200, { 'x-goog-upload-url': `http://${host}/upload/v1beta/files?upload_id=${id}&upload_protocol=resumable`, 'x-goog-upload-status': 'active', 'content-length': 0 });
      res.end();
      return;
    }
    const session = sessions.get(query.get('upload_id') ?? '');
    if (!session) {
      req.resume();
      throw googleError(404, 'No such upload session');
    }
    const offset = Number(req.headers['x-goog-upload-offset'] ?? 0);
    if (offset !== session.bytes) {
      req.resume();
      throw googleError(400, `The upload offset ${offset} does not match the ${session.bytes} bytes received`);
    }
    // Appended with backpressure: a large upload never sits in memory.
    await pipeline(req, createWriteStream(session.tmp, { flags: 'a' }));
    session.bytes = (await stat(session.tmp).catch(() => ({ size: 0 }))).size;
    if (!command.includes('finalize')) {
      res.writeHead(200, { 'x-goog-upload-status': 'active', 'content-length': 0 });
      res.end();
      return;
    }
    sessions.delete(query.get('upload_id')!);
    if (session.bytes > maxBytes) {
      await rm(session.tmp, { force: true });
      throw googleError(400, `The file has ${session.bytes} bytes; the limit is ${maxBytes} bytes`);
    }
    const id = newId('');
    await commitFile(session.tmp, store.dataPath(id));
    const rec: Stored<FileObject> = { seq: store.nextSeq(), createdMs: Date.now(), value: { id, object: 'file', bytes: session.bytes, created_at: nowSeconds(), filename: session.displayName, purpose: GEMINI_INPUT_PURPOSE } };
    store.files.set(id, rec);
    await store.save('files', rec);
    onCreated();
    sendJson(res, 200, { file: fileView(rec.value) }, { 'x-goog-upload-status': 'final' });
  };
}

/** Stream a batch's responses file: its output and error lines as Gemini lines (never-run markers left out). */
async function sendResponses(store: Store, res: ServerResponse, batchId: string): Promise<void> {
  const rec = store.batches.get(batchId);
  if (!rec || !(rec.value.output_file_id || rec.value.error_file_id)) throw googleError(404, `File files/responses-${batchId} does not exist.`);
  const model = (rec.value.metadata as unknown as GeminiBatchMeta).gemini_model;
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const files = [rec.value.output_file_id, rec.value.error_file_id].filter((id): id is string => Boolean(id));
  // pipeline waits on the socket and ends (or fails) when the client goes away: a write never waits on a closed one.
  await pipeline(async function* () {
    for (const id of files) {
      for await (const text of createInterface({ input: createReadStream(store.dataPath(id)), crlfDelay: Infinity })) {
        if (text.trim() === '') continue;
        const line = responsesLineOf(text, model);
        if (line !== null) yield `${line}\n`;
      }
    }
  }, res);
}

/** `files/ID:download?alt=media`: an uploaded file as stored, or a batch's responses file. */
async function download(store: Store, { res, params, query }: RouteContext): Promise<void> {
  const [id, action] = (params['idAction'] ?? '').split(':');
  if (action !== 'download' || query.get('alt') !== 'media') throw googleError(400, 'Expected files/{id}:download?alt=media');
  if (id!.startsWith('responses-')) return sendResponses(store, res, id!.slice('responses-'.length));
  const rec = geminiFile(store, id!);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': rec.value.bytes });
  await pipeline(createReadStream(store.dataPath(rec.value.id)), res);
}

/** `GET /v1beta/files`: the uploaded files, oldest first, `pageSize` 1–100 (default 10) and `pageToken` as Google pages them. */
function listFiles(store: Store, { res, query }: RouteContext): void {
  const all = [...store.files.values()].filter((r) => r.value.purpose === GEMINI_INPUT_PURPOSE).sort((a, b) => a.seq - b.seq);
  const { page, nextPageToken } = googlePage(all, query, { size: 10, max: 100 });
  sendJson(res, 200, { files: page.map((r) => fileView(r.value)), ...(nextPageToken ? { nextPageToken } : {}) });
}

/** The Files API routes the Gemini SDK and kbatch's adapter use. */
export function geminiFileRoutes(store: Store, maxBytes: number, onCreated: () => void): Route[] {
  const getOrDownload = (ctx: RouteContext): Promise<void> => {
    if ((ctx.params['idAction'] ?? '').includes(':')) return download(store, ctx);
    sendJson(ctx.res, 200, fileView(geminiFile(store, ctx.params['idAction']!).value));
    return Promise.resolve();
  };
  return [
    { method: 'POST', pattern: 'POST /upload/v1beta/files', handler: uploadHandler(store, maxBytes, onCreated) },
    { method: 'GET', pattern: 'GET /v1beta/files', handler: async (ctx) => listFiles(store, ctx) },
    { method: 'GET', pattern: 'GET /v1beta/files/:idAction', handler: getOrDownload },
    { method: 'GET', pattern: 'GET /download/v1beta/files/:idAction', handler: (ctx) => download(store, ctx) },
    {
      method: 'DELETE',
      pattern: 'DELETE /v1beta/files/:id',
      handler: async ({ res, params }) => {
        await store.deleteFile(geminiFile(store, params['id']!).value.id);
        sendJson(res, 200, {});
      },
    },
  ];
}
