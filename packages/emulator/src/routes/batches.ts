import { HttpError, badRequest, notFound, sendJson } from '../errors.js';
import { paginate, readJson, type Route } from '../internal/http.js';
import type { BatchLifecycle } from '../lifecycle.js';
import type { BatchObject, Store, Stored } from '../store.js';

const TIMESTAMPS = [
  'created_at',
  'in_progress_at',
  'expires_at',
  'finalizing_at',
  'completed_at',
  'failed_at',
  'expired_at',
  'cancelling_at',
  'cancelled_at',
] as const;

/**
 * The Batch object as sent: integer timestamps in create responses, strings in GET/list/cancel responses
 * (the reference shows both, and clients must cope with either).
 */
export function batchView(b: BatchObject, stringTimestamps: boolean): Record<string, unknown> {
  const view: Record<string, unknown> = { ...b, request_counts: { ...b.request_counts } };
  if (stringTimestamps) for (const key of TIMESTAMPS) if (b[key] !== null) view[key] = String(b[key]);
  return view;
}

// OpenAI's output_expires_after: anchor created_at, 1 hour to 30 days (a 400 otherwise, as its API validates it).
function outputExpiry(value: unknown): Pick<BatchObject, 'output_expires_after'> {
  if (value === undefined || value === null) return {};
  const { anchor, seconds } = (typeof value === 'object' ? value : {}) as { anchor?: unknown; seconds?: unknown };
  if (anchor !== 'created_at' || typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 3_600 || seconds > 2_592_000) {
    throw badRequest('output_expires_after must be {"anchor": "created_at", "seconds": 3600 to 2592000}', 'output_expires_after', 'invalid_value');
  }
  return { output_expires_after: { anchor, seconds } };
}

function getBatch(store: Store, id: string): Stored<BatchObject> {
  const rec = store.batches.get(id);
  if (!rec) throw notFound(`No such Batch object: ${id}`, 'batch_id');
  return rec;
}

/** /v1/batches routes. */
export function batchRoutes(store: Store, lifecycle: BatchLifecycle, onCreated: () => void): Route[] {
  return [
    {
      method: 'POST',
      pattern: 'POST /v1/batches',
      handler: async ({ req, res }) => {
        const body = (await readJson(req)) as Record<string, unknown>;
        const fileId = body['input_file_id'];
        if (typeof fileId !== 'string' || fileId === '') throw badRequest('input_file_id is required', 'input_file_id', 'missing_required_parameter');
        const file = store.files.get(fileId);
        if (!file) throw notFound(`No such File object: ${fileId}`, 'input_file_id');
        if (file.value.purpose !== 'batch') throw badRequest(`The file ${fileId} has purpose ${file.value.purpose}; a batch needs purpose batch`, 'input_file_id', 'invalid_value');
        if (body['endpoint'] !== '/v1/chat/completions') throw badRequest(`endpoint must be /v1/chat/completions, got ${JSON.stringify(body['endpoint'])}`, 'endpoint', 'invalid_value');
        const window = body['completion_window'];
        if (typeof window !== 'string' || !lifecycle.acceptsWindow(window)) {
          throw badRequest(`completion_window must be ${lifecycle.describeWindows()}, got ${JSON.stringify(window)}`, 'completion_window', 'invalid_value');
        }
        const metadata = body['metadata'] ?? {};
        if (typeof metadata !== 'object' || Array.isArray(metadata) || Object.values(metadata as object).some((v) => typeof v !== 'string')) {
          throw badRequest('metadata must be an object of string values', 'metadata', 'invalid_value');
        }
        const rec = await lifecycle.create({
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: window,
          metadata: metadata as Record<string, string>,
          ...outputExpiry(body['output_expires_after']),
        });
        onCreated();
        sendJson(res, 200, batchView(rec.value, false));
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/batches',
      handler: async ({ res, query }) => {
        const all = [...store.batches.values()].sort((a, b) => b.seq - a.seq).map((r) => r.value);
        const page = paginate(all, query);
        sendJson(res, 200, {
          object: 'list',
          data: page.data.map((b) => batchView(b, true)),
          first_id: page.first_id,
          last_id: page.last_id,
          has_more: page.has_more,
          count: page.data.length,
          page: Math.floor(page.start / page.limit) + 1,
          page_count: Math.max(1, Math.ceil(all.length / page.limit)),
          items_per_page: page.limit,
        });
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/batches/:id',
      handler: async ({ res, params }) => sendJson(res, 200, batchView(getBatch(store, params['id']!).value, true)),
    },
    {
      method: 'POST',
      pattern: 'POST /v1/batches/:id/cancel',
      handler: async ({ req, res, params }) => {
        req.resume();
        const rec = getBatch(store, params['id']!);
        if ((await lifecycle.cancel(rec)) === 'not-cancellable') {
          throw new HttpError(400, `Cannot cancel a batch with status ${rec.value.status}`, 'invalid_request_error', 'batch_not_cancellable', 'batch_id');
        }
        sendJson(res, 200, batchView(rec.value, true));
      },
    },
  ];
}
