// The anthropic personality's routes: Message Batches (inline create, retrieve, list, cancel, results) and Messages.
import type { IncomingMessage } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { HttpError, badRequest, notFound, sendJson } from '../errors.js';
import type { Executor } from '../executor.js';
import { newId, nowSeconds } from '../internal/ids.js';
import type { Route } from '../internal/http.js';
import type { BatchLifecycle } from '../lifecycle.js';
import type { ResolvedEmulatorOptions } from '../options.js';
import { commitFile, type BatchObject, type Store, type Stored } from '../store.js';
import { anthropicId, emulatorId, InlineBatches, type InlineBatch } from './batch-store.js';
import { batchView, hasEnded } from './batch-view.js';
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

/**
 * Check an inline create and write its requests as an emulator batch input file (chat bodies, run by the shared
 * executor, faults and clock). Requests the API version refuses are kept aside as `errored` results.
 */
async function stageRequests(ctx: AnthropicRouteContext, body: unknown, version: string | undefined): Promise<{ fileId: string; inline: InlineBatch }> {
  const requests = (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) throw badRequest('requests: Field required (a list of 1 to 100000 requests)');
  if (requests.length > ctx.opts.maxRequestsPerBatch) throw badRequest(`requests: List should have at most ${ctx.opts.maxRequestsPerBatch} items`);
  const ids = new Set<string>();
  const lines: string[] = [];
  const inline: InlineBatch = { requests: requests.length, errored: [] };
  for (const [i, r] of (requests as Array<{ custom_id?: unknown; params?: Record<string, unknown> }>).entries()) {
    const id = r?.custom_id;
    if (typeof id !== 'string' || !CUSTOM_ID.test(id)) throw badRequest(`requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
    if (ids.has(id)) throw badRequest(`requests.${i}.custom_id: duplicate custom_id ${id}; custom_ids must be unique within a batch`);
    ids.add(id);
    const invalid = paramsError(r.params, `requests.${i}.params.`, true, undefined);
    if (invalid) throw invalid;
    const refused = removesSampling(version) ? (['temperature', 'top_p', 'top_k'] as const).find((k) => r.params![k] !== undefined) : undefined;
    if (refused) inline.errored.push({ custom_id: id, message: `${refused}: Extra inputs are not permitted` });
    else lines.push(JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: toChatBody(r.params!) }));
  }
  const fileId = newId('file-');
  const tmp = ctx.store.tmpPath('anthropic');
  await writeFile(tmp, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  await commitFile(tmp, ctx.store.dataPath(fileId));
  const file = { seq: ctx.store.nextSeq(), createdMs: Date.now(), value: { id: fileId, object: 'file' as const, bytes: 0, created_at: nowSeconds(), filename: 'message-batch-requests.jsonl', purpose: 'batch' } };
  ctx.store.files.set(fileId, file);
  await ctx.store.save('files', file);
  return { fileId, inline };
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
        const { fileId, inline } = await stageRequests(ctx, await readBody(req, ctx.opts.maxBatchBytes), versionOf(req));
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
