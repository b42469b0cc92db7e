import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { sendJson } from '../errors.js';
import { newId, nowSeconds } from '../internal/ids.js';
import { readJson, type Route, type RouteContext } from '../internal/http.js';
import type { BatchLifecycle } from '../lifecycle.js';
import { commitFile, type BatchObject, type FileObject, type Store, type Stored } from '../store.js';
import { geminiFile } from './gemini-files.js';
import { chatBodyOf, googleError, googlePage, isGeminiModel, operationOf, type GeminiBatchMeta } from './gemini-wire.js';

/** A Gemini batch expires after 48 hours pending or running (the batch guide); the emulator's clock scales it. */
const GEMINI_WINDOW = '48h';

/** Batches made through the Gemini routes (the metadata the personality keeps), newest first. */
function geminiBatches(store: Store): Stored<BatchObject>[] {
  return [...store.batches.values()].filter((r) => 'gemini_display_name' in r.value.metadata).sort((a, b) => b.seq - a.seq);
}

function geminiBatch(store: Store, id: string): Stored<BatchObject> {
  const rec = store.batches.get(id);
  if (!rec || !('gemini_display_name' in rec.value.metadata)) throw googleError(404, `Batch batches/${id} does not exist.`);
  return rec;
}

/**
 * The `{key, request}` input file as the emulator's request lines (constant memory); a line that is not one is
 * written as it is, so the batch's validation fails it, naming the line.
 */
async function toRequestFile(store: Store, input: Stored<FileObject>): Promise<string> {
  const tmp = store.tmpPath('gemini-input');
  const out = createWriteStream(tmp);
  for await (const text of createInterface({ input: createReadStream(store.dataPath(input.value.id)), crlfDelay: Infinity })) {
    if (text.trim() === '') continue;
    let line = text;
    try {
      const { key, request } = JSON.parse(text) as { key?: unknown; request?: unknown };
      if (typeof key === 'string' || typeof key === 'number') line = JSON.stringify({ custom_id: String(key), method: 'POST', url: '/v1/chat/completions', body: chatBodyOf(request as never) });
    } catch {
      // Not a request line: left for validation to name.
    }
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const id = newId('file-');
  await commitFile(tmp, store.dataPath(id));
  const rec: Stored<FileObject> = { seq: store.nextSeq(), createdMs: Date.now(), value: { id, object: 'file', bytes: (await stat(store.dataPath(id))).size, created_at: nowSeconds(), filename: `${input.value.id}.requests.jsonl`, purpose: 'batch' } };
  store.files.set(id, rec);
  await store.save('files', rec);
  return id;
}

/** `models/{model}:batchGenerateContent` with a file source: the batch runs on the emulator's lifecycle. */
async function createBatch({ store, lifecycle, onCreated }: { store: Store; lifecycle: BatchLifecycle; onCreated: () => void }, model: string, ctx: RouteContext): Promise<void> {
  const body = (await readJson(ctx.req)) as { batch?: { displayName?: unknown; inputConfig?: { fileName?: unknown; requests?: unknown } } };
  const batch = body.batch;
  if (!batch || typeof batch !== 'object') throw googleError(400, '* BatchGenerateContentRequest.batch: batch is required');
  if (typeof batch.displayName !== 'string' || batch.displayName === '') throw googleError(400, '* GenerateContentBatch.display_name: display_name is required');
  if (batch.inputConfig?.requests !== undefined) throw googleError(501, 'Inline requests are not emulated: upload a JSONL file');
  if (typeof batch.inputConfig?.fileName !== 'string') throw googleError(400, '* GenerateContentBatch.input_config: file_name is required');
  const input = geminiFile(store, batch.inputConfig.fileName);
  const meta: GeminiBatchMeta = { gemini_display_name: batch.displayName, gemini_model: model, gemini_input: batch.inputConfig.fileName };
  const rec = await lifecycle.create({ input_file_id: await toRequestFile(store, input), endpoint: '/v1/chat/completions', completion_window: GEMINI_WINDOW, metadata: { ...meta } });
  onCreated();
  sendJson(ctx.res, 200, operationOf(rec));
}

/** The Gemini Batch API routes (create under models/, get, list with pageToken, cancel, delete). */
export function geminiBatchRoutes(store: Store, lifecycle: BatchLifecycle, onCreated: () => void, generate: (model: string, ctx: RouteContext) => Promise<void>): Route[] {
  return [
    {
      method: 'POST',
      pattern: 'POST /v1beta/models/:modelAction',
      handler: async (ctx) => {
        const at = (ctx.params['modelAction'] ?? '').lastIndexOf(':');
        const model = ctx.params['modelAction']!.slice(0, at);
        const action = ctx.params['modelAction']!.slice(at + 1);
        if (at < 0 || !isGeminiModel(model)) {
          ctx.req.resume();
          throw googleError(404, `models/${model} is not found for API version v1beta, or is not supported for ${action}.`);
        }
        if (action === 'batchGenerateContent') return createBatch({ store, lifecycle, onCreated }, model, ctx);
        if (action === 'generateContent') return generate(model, ctx);
        ctx.req.resume();
        throw googleError(404, `Unknown method ${action}`);
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1beta/batches',
      handler: async ({ res, query }) => {
        const { page, nextPageToken } = googlePage(geminiBatches(store), query, { size: 50, max: 1000 });
        sendJson(res, 200, { operations: page.map(operationOf), ...(nextPageToken ? { nextPageToken } : {}) });
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1beta/batches/:id',
      handler: async ({ res, params }) => sendJson(res, 200, operationOf(geminiBatch(store, params['id']!))),
    },
    {
      method: 'DELETE',
      pattern: 'DELETE /v1beta/batches/:id',
      handler: async ({ res, params }) => {
        const rec = geminiBatch(store, params['id']!);
        // Not documented for a running batch (GUESS): refused, as Anthropic does, so the lifecycle never loses one mid-run.
        if (!operationOf(rec)['done']) throw googleError(400, `Batch batches/${rec.value.id} is ${rec.value.status}: cancel it before deleting it`);
        await store.deleteBatch(rec.value.id);
        sendJson(res, 200, {});
      },
    },
    {
      method: 'POST',
      pattern: 'POST /v1beta/batches/:idAction',
      handler: async ({ req, res, params }) => {
        req.resume();
        const [id, action] = (params['idAction'] ?? '').split(':');
        if (action !== 'cancel') throw googleError(404, `Unknown method ${action}`);
        const rec = geminiBatch(store, id!);
        if ((await lifecycle.cancel(rec)) === 'not-cancellable') throw googleError(400, `Batch batches/${id} is ${rec.value.status}: it cannot be cancelled`);
        sendJson(res, 200, {});
      },
    },
  ];
}
