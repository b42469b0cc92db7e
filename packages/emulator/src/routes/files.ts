import Busboy from 'busboy';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { badRequest, notFound, sendJson } from '../errors.js';
import { newId, nowSeconds } from '../internal/ids.js';
import { paginate, type Route, type RouteContext } from '../internal/http.js';
import { commitFile, type FileObject, type Store, type Stored } from '../store.js';

/** Purposes an upload may have. */
export const UPLOAD_PURPOSES = ['batch', 'fine-tune'];

/** The File object as the reference shows it (created_at as a string). */
export function fileView(f: FileObject) {
  return { ...f, created_at: String(f.created_at) };
}

/** Look a file up or answer 404. */
export function getFile(store: Store, id: string): Stored<FileObject> {
  const rec = store.files.get(id);
  if (!rec) throw notFound(`No such File object: ${id}`, 'file_id');
  return rec;
}

/** Stream a multipart upload to a temp file with backpressure (constant memory), then commit it. */
async function upload(store: Store, ctx: RouteContext, onCreated: () => void): Promise<void> {
  const { req, res } = ctx;
  if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
    req.resume();
    throw badRequest('Uploads must be multipart/form-data with a `file` and a `purpose` field', 'file');
  }
  const tmp = store.tmpPath('upload');
  let filename: string | undefined;
  let purpose: string | undefined;
  let writing: Promise<void> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const bb = Busboy({ headers: req.headers, limits: { files: 1, fields: 20 } });
      bb.on('file', (name, stream, info) => {
        if (name !== 'file' || writing) {
          stream.resume();
          return;
        }
        filename = info.filename || 'upload.jsonl';
        writing = pipeline(stream, createWriteStream(tmp));
        writing.catch(reject);
      });
      bb.on('field', (name, value) => {
        if (name === 'purpose') purpose = value;
      });
      bb.on('error', reject);
      bb.on('close', () => resolve());
      req.on('aborted', () => reject(new Error('upload aborted')));
      req.pipe(bb);
    });
    if (writing) await writing;
    if (filename === undefined) throw badRequest('Missing the `file` field', 'file', 'missing_required_parameter');
    if (purpose === undefined) throw badRequest('Missing the `purpose` field', 'purpose', 'missing_required_parameter');
    if (!UPLOAD_PURPOSES.includes(purpose)) throw badRequest(`purpose must be one of ${UPLOAD_PURPOSES.join(', ')}, got ${JSON.stringify(purpose)}`, 'purpose', 'invalid_value');
    const bytes = (await stat(tmp)).size;
    const id = newId('file-');
    await commitFile(tmp, store.dataPath(id));
    const rec: Stored<FileObject> = {
      seq: store.nextSeq(),
      createdMs: Date.now(),
      value: { id, object: 'file', bytes, created_at: nowSeconds(), filename, purpose },
    };
    store.files.set(id, rec);
    await store.save('files', rec);
    onCreated();
    sendJson(res, 200, fileView(rec.value));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** /v1/files routes. */
export function fileRoutes(store: Store, onCreated: () => void): Route[] {
  return [
    { method: 'POST', pattern: 'POST /v1/files', handler: (ctx) => upload(store, ctx, onCreated) },
    {
      method: 'GET',
      pattern: 'GET /v1/files',
      handler: async ({ res, query }) => {
        const purpose = query.get('purpose');
        const all = [...store.files.values()]
          .filter((f) => !purpose || f.value.purpose === purpose)
          .sort((a, b) => b.seq - a.seq)
          .map((f) => fileView(f.value));
        const page = paginate(all, query, 10_000);
        sendJson(res, 200, { object: 'list', data: page.data, first_id: page.first_id, last_id: page.last_id, has_more: page.has_more });
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/files/:id',
      handler: async ({ res, params }) => sendJson(res, 200, fileView(getFile(store, params['id']!).value)),
    },
    {
      method: 'GET',
      pattern: 'GET /v1/files/:id/content',
      handler: async ({ res, params }) => {
        const rec = getFile(store, params['id']!);
        const path = store.dataPath(rec.value.id);
        const size = (await stat(path)).size;
        res.writeHead(200, {
          'content-type': rec.value.filename.endsWith('.jsonl') ? 'application/jsonl' : 'application/octet-stream',
          'content-length': size,
          'content-disposition': `attachment; filename="${rec.value.filename.replace(/"/g, '')}"`,
        });
        await pipeline(createReadStream(path), res);
      },
    },
    {
      method: 'DELETE',
      pattern: 'DELETE /v1/files/:id',
      handler: async ({ res, params }) => {
        const rec = getFile(store, params['id']!);
        await store.deleteFile(rec.value.id);
        sendJson(res, 200, { id: rec.value.id, object: 'file', deleted: true });
      },
    },
  ];
}
