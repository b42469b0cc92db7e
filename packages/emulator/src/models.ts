import type { Store } from './store.js';

/** The models of the kluster reference, with the reference's `created` times. */
export const REFERENCE_MODELS = [
  { id: 'klusterai/Meta-Llama-3.1-405B-Instruct-Turbo', created: 1731336418, object: 'model', owned_by: 'klusterai' },
  { id: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', created: 1731336610, object: 'model', owned_by: 'klusterai' },
  { id: 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo', created: 1733777629, object: 'model', owned_by: 'klusterai' },
  { id: 'deepseek-ai/DeepSeek-R1', created: 1737385699, object: 'model', owned_by: 'klusterai' },
] as const;

/** Base models a fine-tuning job accepts (the reference names them both ways). */
export const FINE_TUNABLE_MODELS = new Set([
  'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
  'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo',
  'meta-llama/Meta-Llama-3.1-8B-Instruct',
  'meta-llama/Llama-3.1-8B-Instruct',
  'meta-llama/Meta-Llama-3.3-70B-Instruct-Turbo',
  'meta-llama/Llama-3.3-70B-Instruct-Turbo',
]);

/** Every model usable right now: the reference list plus fine-tuned models of succeeded jobs. */
export function listModels(store: Store) {
  const tuned = [...store.jobs.values()]
    .filter((j) => j.value.status === 'succeeded' && j.value.fine_tuned_model)
    .sort((a, b) => a.seq - b.seq)
    .map((j) => ({ id: j.value.fine_tuned_model!, created: j.value.finished_at ?? j.value.created_at, object: 'model' as const, owned_by: 'personal' }));
  return [...REFERENCE_MODELS.map((m) => ({ ...m })), ...tuned];
}

/** Whether a model id can be used in chat and batches. */
export function isKnownModel(store: Store, id: unknown): boolean {
  if (typeof id !== 'string') return false;
  if (REFERENCE_MODELS.some((m) => m.id === id)) return true;
  for (const j of store.jobs.values()) if (j.value.status === 'succeeded' && j.value.fine_tuned_model === id) return true;
  return false;
}
