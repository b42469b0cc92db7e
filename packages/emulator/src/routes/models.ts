import { notFound, sendJson } from '../errors.js';
import type { Route } from '../internal/http.js';
import { listModels } from '../models.js';
import type { Store } from '../store.js';

/** GET /v1/models (reference models + fine-tuned ones) and GET /v1/models/{id}. */
export function modelRoutes(store: Store): Route[] {
  return [
    { method: 'GET', pattern: 'GET /v1/models', handler: async ({ res }) => sendJson(res, 200, { object: 'list', data: listModels(store) }) },
    {
      method: 'GET',
      pattern: 'GET /v1/models/:id+',
      handler: async ({ res, params }) => {
        const model = listModels(store).find((m) => m.id === params['id']);
        if (!model) throw notFound(`The model \`${params['id']}\` does not exist`, 'model', 'model_not_found');
        sendJson(res, 200, model);
      },
    },
  ];
}
