import { compileTemplate } from '../request/index.js';

/** Renders one record's fields into a message; throws TEMPLATE_FIELD_MISSING for an absent field. */
export type RenderTemplate = (data: Record<string, unknown>) => string;

/**
 * Compile a message template with the request area's engine (`{{field}}`, `{{a.b}}`, `\{{` for literal braces).
 * @throws KbatchError TEMPLATE_INVALID for a malformed template
 */
export function compileMessageTemplate(source: string): RenderTemplate {
  const template = compileTemplate(source);
  return (data) => template.render(data);
}

/** Value at a dotted path (a field literally named `a.b` wins, as in templates), or undefined. */
export function lookup(data: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(data, path)) return data[path];
  let value: unknown = data;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
