import { HttpError, badRequest, notFound, sendJson } from '../errors.js';
import type { FineTuningLifecycle } from '../fine-tuning.js';
import { paginate, readJson, type Route } from '../internal/http.js';
import { FINE_TUNABLE_MODELS } from '../models.js';
import type { FineTuningJobObject, Store, Stored } from '../store.js';

/** The job as sent (internal fields dropped). */
export function jobView(j: FineTuningJobObject): Record<string, unknown> {
  const { _tokens, ...rest } = j as FineTuningJobObject & { _tokens?: number };
  void _tokens;
  return rest;
}

function getJob(store: Store, id: string): Stored<FineTuningJobObject> {
  const rec = store.jobs.get(id);
  if (!rec) throw notFound(`No such fine-tuning job: ${id}`, 'fine_tuning_job_id');
  return rec;
}

function positive(v: unknown, name: string, fallback: number, integer: boolean): number {
  if (v === undefined || v === null || v === 'auto') return fallback;
  if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v))) {
    throw badRequest(`hyperparameters.${name} must be a positive ${integer ? 'integer' : 'number'}`, `hyperparameters.${name}`, 'invalid_value');
  }
  return v;
}

/** /v1/fine_tuning/jobs routes. */
export function fineTuningRoutes(store: Store, lifecycle: FineTuningLifecycle): Route[] {
  return [
    {
      method: 'POST',
      pattern: 'POST /v1/fine_tuning/jobs',
      handler: async ({ req, res }) => {
        const body = (await readJson(req)) as Record<string, unknown>;
        const model = body['model'];
        if (typeof model !== 'string' || !FINE_TUNABLE_MODELS.has(model)) {
          throw badRequest(`model must be a fine-tunable model (${[...FINE_TUNABLE_MODELS].join(', ')}), got ${JSON.stringify(model)}`, 'model', 'invalid_value');
        }
        const fileId = body['training_file'];
        if (typeof fileId !== 'string' || fileId === '') throw badRequest('training_file is required', 'training_file', 'missing_required_parameter');
        const file = store.files.get(fileId);
        if (!file) throw notFound(`No such File object: ${fileId}`, 'training_file');
        if (file.value.purpose !== 'fine-tune') throw badRequest(`The training file must have purpose fine-tune, got ${file.value.purpose}`, 'training_file', 'invalid_value');
        const validation = body['validation_file'];
        if (validation != null && (typeof validation !== 'string' || !store.files.has(validation))) {
          throw notFound(`No such File object: ${String(validation)}`, 'validation_file');
        }
        const hp = (body['hyperparameters'] ?? (body['method'] as { supervised?: { hyperparameters?: unknown } } | undefined)?.supervised?.hyperparameters ?? {}) as Record<string, unknown>;
        const nickname = body['nickname'] ?? body['suffix'] ?? null;
        if (nickname !== null && typeof nickname !== 'string') throw badRequest('nickname must be a string', 'nickname', 'invalid_value');
        const rec = await lifecycle.create({
          model,
          training_file: fileId,
          validation_file: (validation as string | null | undefined) ?? null,
          hyperparameters: {
            batch_size: positive(hp['batch_size'], 'batch_size', 4, true),
            learning_rate_multiplier: positive(hp['learning_rate_multiplier'], 'learning_rate_multiplier', 1, false),
            n_epochs: positive(hp['n_epochs'], 'n_epochs', 3, true),
          },
          nickname,
          seed: typeof body['seed'] === 'number' ? body['seed'] : 42,
          metadata: (body['metadata'] as Record<string, string> | undefined) ?? null,
        });
        sendJson(res, 200, jobView(rec.value));
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/fine_tuning/jobs',
      handler: async ({ res, query }) => {
        const all = [...store.jobs.values()].sort((a, b) => b.seq - a.seq).map((r) => jobView(r.value) as unknown as FineTuningJobObject);
        const page = paginate(all, query);
        sendJson(res, 200, { object: 'list', data: page.data, first_id: page.first_id, last_id: page.last_id, has_more: page.has_more });
      },
    },
    {
      method: 'GET',
      pattern: 'GET /v1/fine_tuning/jobs/:id',
      handler: async ({ res, params }) => sendJson(res, 200, jobView(getJob(store, params['id']!).value)),
    },
    {
      method: 'POST',
      pattern: 'POST /v1/fine_tuning/jobs/:id/cancel',
      handler: async ({ req, res, params }) => {
        req.resume();
        const rec = getJob(store, params['id']!);
        const cancelled = await lifecycle.cancel(rec);
        if (cancelled === 'not-cancellable') {
          throw new HttpError(400, `Cannot cancel a job with status ${rec.value.status}`, 'invalid_request_error', 'job_not_cancellable', 'fine_tuning_job_id');
        }
        sendJson(res, 200, jobView(cancelled));
      },
    },
  ];
}
