import { Writable } from 'node:stream';
import { z } from 'zod';
import { KbatchError } from './errors.js';
import { OUTPUT_FORMATS } from './output/output-format.js';

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

// Shared field schemas: one wording per kind of value, so every options schema reads alike and none re-declares them.

/** An integer ≥ 1 ("must be a positive integer"). */
export const positiveIntField = () => z.int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' });
/** A duration in milliseconds, an integer ≥ 1. */
export const positiveMsField = () => z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' });
/** An integer ≥ 0 ("must be a whole number ≥ 0"). */
export const wholeNumberField = () => z.int({ error: 'must be a whole number ≥ 0' }).min(0, { error: 'must be a whole number ≥ 0' });
/** A boolean ("must be true or false"). */
export const booleanField = () => z.boolean({ error: 'must be true or false' });
/** A callback. */
export const functionField = <T>() => z.custom<T>((v) => typeof v === 'function', { error: 'must be a function' });
/** An AbortSignal. */
export const signalField = () => z.instanceof(AbortSignal, { error: 'must be an AbortSignal' });
/** A Writable (e.g. the stdout a CLI injects). */
export const writableField = () => z.instanceof(Writable, { error: 'must be a Writable' });
/** Where `-` reads from: any readable stream (default process.stdin). */
export const stdinField = () => z.custom<NodeJS.ReadableStream>((v) => typeof v === 'object' && v !== null, { error: 'must be a readable stream' });
/** Where rows go: a file path, `-` (stdout) or a Writable (left open). */
export const outputField = () => z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path, "-" or a Writable' });
/** Where rejected records go: a file path or a Writable. */
export const rejectsField = () => z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path or a Writable' });
/** Output format of joined records. */
export const OutputFormatSchema = z.enum(OUTPUT_FORMATS, { error: `must be one of ${OUTPUT_FORMATS.join(', ')}` });
/** A non-empty string, with one message for a wrong type and one for an empty string. */
export const nonEmptyField = (what: string, empty = what) => z.string({ error: what }).min(1, { error: empty });
