import { KbatchError } from '../errors.js';

/** Renders one record's fields into a message; throws TEMPLATE_FIELD_MISSING for an absent field. */
export type RenderTemplate = (data: Record<string, unknown>) => string;

// Seam over the request area's template engine: same `{{a.b}}` syntax, kept local until that API settles.
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/**
 * Compile a `{{field}}` / `{{a.b}}` template once.
 * @param source - template text
 * @param option - option name used in error messages (`prompt`, `system`)
 */
export function compileMessageTemplate(source: string, option: string): RenderTemplate {
  const parts: (string | string[])[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const path = match[1]!;
    if (path === '' || path.split('.').some((key) => key === '')) {
      throw new KbatchError('TEMPLATE_INVALID', `Invalid ${option} template: empty field name in "${match[0]}"`, {
        field: option,
      });
    }
    parts.push(source.slice(last, match.index), path.split('.'));
    last = match.index! + match[0].length;
  }
  parts.push(source.slice(last));
  return (data) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : format(lookup(data, part), part.join('.'), option);
    return out;
  };
}

/** Value at a dotted path, or undefined. */
export function lookup(data: unknown, path: readonly string[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function format(value: unknown, field: string, option: string): string {
  if (value === undefined || value === null) {
    throw new KbatchError('TEMPLATE_FIELD_MISSING', `${option} template uses field \`${field}\`, which the record lacks`, {
      field,
    });
  }
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}
