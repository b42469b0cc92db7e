import { KbatchError } from '../errors.js';

/**
 * Base models kluster.ai fine-tunes, with their context windows in tokens (from the API reference).
 * The reference's request and response examples also use `meta-llama/…` ids, so those are accepted as aliases.
 */
export const FINE_TUNABLE_MODELS: Readonly<Record<string, number>> = Object.freeze({
  'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo': 64_000,
  'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo': 32_000,
  'meta-llama/Meta-Llama-3.1-8B-Instruct': 64_000,
  'meta-llama/Meta-Llama-3.3-70B-Instruct-Turbo': 32_000,
  'meta-llama/Llama-3.1-8B-Instruct': 64_000,
  'meta-llama/Llama-3.3-70B-Instruct-Turbo': 32_000,
});

/** The largest supported window: an example longer than this cannot be trained on any base model. */
export const MAX_FINE_TUNE_CONTEXT = Math.max(...Object.values(FINE_TUNABLE_MODELS));

/**
 * Context window of a fine-tunable base model; throws FINETUNE_MODEL_UNSUPPORTED (listing the models) otherwise.
 * @param model - base model id, e.g. `klusterai/Meta-Llama-3.1-8B-Instruct-Turbo`
 * @param models - the fine-tunable models and their windows (defaults to {@link FINE_TUNABLE_MODELS})
 */
export function fineTuneContextWindow(
  model: string,
  models: Readonly<Record<string, number>> = FINE_TUNABLE_MODELS,
): number {
  const window = Object.hasOwn(models, model) ? models[model] : undefined;
  if (window === undefined) {
    throw new KbatchError(
      'FINETUNE_MODEL_UNSUPPORTED',
      `model "${model}" cannot be fine-tuned; fine-tunable models: ${Object.keys(models).join(', ')}`,
      { field: 'model' },
    );
  }
  return window;
}
