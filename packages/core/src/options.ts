import { z } from 'zod';
import { KbatchError } from './errors.js';

/**
 * Parse a public options object once, turning the first zod issue into
 * "Invalid option `maxBytes`: must be a positive integer, got -1" (code OPTION_INVALID).
 * Schemas should give messages that start with "must …" so the sentence reads well.
 * @param schema - the zod schema of the options object
 * @param input - what the caller passed
 * @param name - the factory or function name, used when the whole object is wrong
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, name: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (path === '') {
    throw new KbatchError('OPTION_INVALID', `Invalid options for ${name}: ${issue.message}`, { cause: result.error });
  }
  const given = valueAt(input, issue.path);
  throw new KbatchError('OPTION_INVALID', `Invalid option \`${path}\`: ${issue.message}, got ${describe(given)}`, {
    field: path,
    cause: result.error,
  });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
