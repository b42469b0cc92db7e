// The anthropic personality's routes: Message Batches (inline create, retrieve, list, cancel, results) and Messages.
import type { IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm, truncate } from 'node:fs/promises';
import { HttpError, badRequest, notFound, sendJson } from '../errors.js';
import type { Executor } from '../executor.js';
import { newId, nowSeconds } from '../internal/ids.js';
import type { Route } from '../internal/http.js';
import type { BatchLifecycle } from '../lifecycle.js';
import type { ResolvedEmulatorOptions } from '../options.js';
import { commitFile, type BatchObject, type Store, type Stored } from '../store.js';
import { anthropicId, emulatorId, InlineBatches, type InlineBatch } from './batch-store.js';
import { batchView, hasEnded } from './batch-view.js';
import { BodySyntaxError, RequestsBodyReader, type RequestsShape } from './requests-body.js';
import { sendResults } from './results.js';
import { CUSTOM_ID, errorBody, paramsError, removesSampling, toChatBody, toMessage } from './wire.js';

/** What the routes share with the server. */
export interface AnthropicRouteContext {
  store: Store;
  lifecycle: BatchLifecycle;
  executor: Executor;
  opts: Pick<ResolvedEmulatorOptions, 'maxRequestsPerBatch' | 'maxBatchBytes'>;
  onBatchCreated: () => void;
  onChat: () => void;
}

/** A JSON body up to `limit` bytes (413 `request_too_large` beyond). */
async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `Request exceeds the maximum size of ${limit} bytes`, 'request_too_large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('The request body is not valid JSON');
  }
}

const originOf = (req: IncomingMessage): string => `http://${req.headers.host ?? '127.0.0.1'}`;
const versionOf = (req: IncomingMessage): string | undefined => (req.headers['anthropic-version'] as string | undefined) ?? undefined;

/** What checking an inline create's requests gathers as they stream: the first invalid one, ids, refused ones. */
interface CreateCheck {
  version: string | undefined;
  ids: Set<string>;
  inline: InlineBatch;
  /** The first request that fails validation (answered once the whole body is known to be JSON). */
  invalid?: HttpError;
}

// One request of a create: its validation error, an errored result (a parameter the API version refuses), or its chat line.
function checkRequest(check: CreateCheck, i: number, r: { custom_id?: unknown; params?: Record<string, unknown> } | null): string | undefined {
  const id = r?.custom_id;
  if (typeof id !== 'string' || !CUSTOM_ID.test(id)) throw badRequest(`requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
  if (check.ids.has(id)) throw badRequest(`requests.${i}.custom_id: duplicate custom_id ${id}; custom_ids must be unique within a batch`);
  check.ids.add(id);
  const invalid = paramsError(r!.params, `requests.${i}.params.`, true, undefined);
  if (invalid) throw invalid;
  const refused = removesSampling(check.version) ? (['temperature', 'top_p', 'top_k'] as const).find((k) => r!.params![k] !== undefined) : undefined;
  if (refused) check.inline.errored.push({ custom_id: id, message: `${refused}: Extra inputs are not permitted` });
  else return `${JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: toChatBody(r!.params!) })}\n`;
  return undefined;
}

/**
 * Read an inline create as it streams (one request in memory at a time, see RequestsBodyReader), check it and write its
 * requests as an emulator batch input file (chat bodies, run by the shared executor, faults and clock). Replies as a
 * whole-body parse did: 413 past `limit`, then "not valid JSON", then the request list's shape, then the first bad request.
 * Requests the API version refuses are kept aside as `errored` results.
 */
async function stageRequests(ctx: AnthropicRouteContext, req: IncomingMessage, limit: number): Promise<{ fileId: string; inline: InlineBatch }> {
  const check: CreateCheck = { version: versionOf(req), ids: new Set(), inline: { requests: 0, errored: [] } };
  const tmp = ctx.store.tmpPath('anthropic');
  // Appending: a restart truncates the file and the next write lands at its start.
  const out = createWriteStream(tmp, { flags: 'a' });
  try {
    const shape = await readRequests(req, limit, check, out);
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    if (shape.kind !== 'array' || shape.count === 0) throw badRequest('requests: Field required (a list of 1 to 100000 requests)');
    if (shape.count > ctx.opts.maxRequestsPerBatch) throw badRequest(`requests: List should have at most ${ctx.opts.maxRequestsPerBatch} items`);
    if (check.invalid) throw check.invalid;
    check.inline.requests = shape.count;
  } catch (error) {
    out.destroy();
    await rm(tmp, { force: true });
    throw error;
  }
  const fileId = newId('file-');
  await commitFile(tmp, ctx.store.dataPath(fileId));
  const file = { seq: ctx.store.nextSeq(), createdMs: Date.now(), value: { id: fileId, object: 'file' as const, bytes: 0, created_at: nowSeconds(), filename: 'message-batch-requests.jsonl', purpose: 'batch' } };
  ctx.store.files.set(fileId, file);
  await ctx.store.save('files', file);
  return { fileId, inline: check.inline };
}

// The body's requests checked and written to `out` as they complete (with backpressure); the shape of `requests` at its end.
async function readRequests(req: IncomingMessage, limit: number, check: CreateCheck, out: WriteStream): Promise<RequestsShape> {
  const reader = new RequestsBodyReader();
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, `Request exceeds the maximum size of ${limit} bytes`, 'request_too_large');
      let text = '';
      for (const event of reader.push(chunk)) {
        if (event.type === 'restart') {
          // The first list's lines collected from this same chunk are dropped with it.
          text = '';
          await restartOutput(check, out);
        } else if (!check.invalid) text += checkEvent(check, event.index, event.value);
      }
      if (text !== '' && !out.write(text)) await once(out, 'drain');
    }
    return reader.end();
  } catch (error) {
    if (error instanceof BodySyntaxError) throw badRequest('The request body is not valid JSON');
    throw error;
  }
}

// A request's line, or '' once one is invalid (the rest of the body is still read: a reply that is not JSON comes first).
function checkEvent(check: CreateCheck, index: number, value: unknown): string {
  try {
    return checkRequest(check, index, value as Parameters<typeof checkRequest>[2]) ?? '';
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    check.invalid = error;
    return '';
  }
}

// A later `requests` key replaces the first (as JSON.parse reads it): what was written for the first is dropped.
async function restartOutput(check: CreateCheck, out: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) => out.write('', (error) => (error ? reject(error) : resolve())));
  await truncate(out.path as string, 0);
  check.ids.clear();
  check.inline.errored = [];
  delete check.invalid;
}

/** The /v1/messages/batches and /v1/messages routes. */
export function anthropicRoutes(ctx: AnthropicRouteContext): Route[] {
  const inlines = new InlineBatches(ctx.store);
  const find = (id: string): { rec: Stored<BatchObject>; inline: InlineBatch } => {
    const rec = ctx.store.batches.get(emulatorId(id));
    const inline = rec ? inlines.get(rec.value.input_file_id) : null;
    if (!rec || !inline) throw notFound(`message_batch ${id} not found`);
    return { rec, inline };
  };
  return [
    {
      method: 'POST',
      pattern: 'POST /v1/messages/batches',
      handler: async ({ req, res }) => {
        const { fileId, inline } = await stageRequests(ctx, req, ctx.opts.maxBatchBytes);
        inlines.save(fileId, inline);
        const rec = await ctx.lifecycle.create({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: {} });
        ctx.onBatchCreated();
        sendJson(res, 200, batchView(rec, inline, originOf(req)));
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/messages/batches',
      handler: async ({ req, res, query }) => {
        const all = [...ctx.store.batches.values()].filter((r) => inlines.get(r.value.input_file_id)).sort((a, b) => b.seq - a.seq);
        sendJson(res, 200, listPage(all, query, (rec) => batchView(rec, inlines.get(rec.value.input_file_id)!, originOf(req))));
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/messages/batches/:id',
      handler: async ({ req, res, params }) => {
        const { rec, inline } = find(params['id']!);
        sendJson(res, 200, batchView(rec, inline, originOf(req)));
      },
    },
    {
      method: 'POST',
      pattern: 'POST /v1/messages/batches/:id/cancel',
      handler: async ({ req, res, params }) => {
        req.resume();
        const { rec, inline } = find(params['id']!);
        if (!hasEnded(rec.value)) await ctx.lifecycle.cancel(rec);
        sendJson(res, 200, batchView(rec, inline, originOf(req)));
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/messages/batches/:id/results',
      handler: async ({ res, params }) => {
        const { rec, inline } = find(params['id']!);
        if (!hasEnded(rec.value)) throw badRequest(`message_batch ${params['id']} has not ended: its results are not available yet`);
        await sendResults(res, ctx.store, rec.value, inline);
      },
    },
    {
      method: 'POST',
      pattern: 'POST /v1/messages',
      handler: async ({ req, res }) => {
        ctx.onChat();
        const params = await readBody(req, 32 * 1024 * 1024);
        const invalid = paramsError(params, '', false, versionOf(req));
        if (invalid) throw invalid;
        const outcome = await ctx.executor.run(toChatBody(params as Record<string, unknown>));
        if (outcome.status === 200) return sendJson(res, 200, toMessage(outcome.body, 'standard'));
        const message = (outcome.body as { error?: { message?: string } } | null)?.error?.message ?? 'request failed';
        sendJson(res, outcome.status, errorBody(outcome.status, message));
      },
    },
  ];
}

/** Newest first; `after_id` pages older, `before_id` newer; `limit` 1–1000 (default 20). */
function listPage<T>(all: Array<Stored<BatchObject>>, query: URLSearchParams, view: (rec: Stored<BatchObject>) => T) {
  const limit = query.get('limit') === null ? 20 : Number(query.get('limit'));
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw badRequest('limit: Input should be between 1 and 1000');
  const at = (id: string | null) => (id === null ? -1 : all.findIndex((r) => anthropicId(r.value.id) === id));
  const after = query.get('after_id');
  const before = query.get('before_id');
  let start = 0;
  let end = all.length;
  if (after !== null) start = at(after) < 0 ? all.length : at(after) + 1;
  if (before !== null) end = Math.max(0, at(before));
  const page = before !== null && after === null ? all.slice(Math.max(start, end - limit), end) : all.slice(start, Math.min(end, start + limit));
  const data = page.map(view);
  const more = before !== null && after === null ? end - limit > start : start + limit < end;
  return { data, has_more: more, first_id: data.length ? anthropicId(page[0]!.value.id) : null, last_id: data.length ? anthropicId(page.at(-1)!.value.id) : null };
}
