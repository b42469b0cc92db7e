import { KbatchError } from '../errors.js';

/**
 * Each model's field prefix: the id's last `/`-segment, made unique with `-2`, `-3` when two models share it
 * (`klusterai/Meta-Llama-3.1-8B-Instruct-Turbo` → `Meta-Llama-3.1-8B-Instruct-Turbo`).
 * @throws KbatchError OPTION_INVALID when a model is listed twice (its answers would be paid twice for one column)
 * @example modelAliases(['a/x', 'b/x', 'c/y']) // ['x', 'x-2', 'y']
 */
export function modelAliases(models: readonly string[]): string[] {
  const seen = new Set<string>();
  const taken = new Set<string>();
  return models.map((model) => {
    if (seen.has(model)) throw new KbatchError('OPTION_INVALID', `Invalid option \`models\`: must not list a model twice, got "${model}" twice`, { field: 'models' });
    seen.add(model);
    const base = model.slice(model.lastIndexOf('/') + 1) || model;
    let alias = base;
    for (let n = 2; taken.has(alias); n++) alias = `${base}-${n}`;
    taken.add(alias);
    return alias;
  });
}
