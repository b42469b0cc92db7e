import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseJsonAnswer } from './json-answer.js';

/** A JSON Schema document (any object; checked when converted). */
export type JsonSchema = Record<string, unknown>;

/** A compiled answer schema: validates answers, tells the prompt what to produce and the output which columns to expect. */
export interface AnswerSchema {
  /** The JSON Schema shown to the model (converted from zod when a zod schema was given). */
  jsonSchema: JsonSchema;
  /** Validates a parsed answer (the zod schema itself, or one converted from the JSON Schema). */
  validator: z.ZodType;
  /** Top-level properties that become output fields, or null when the answer is not an object with declared properties. */
  fields: string[] | null;
  /** Declared leaf paths (`a.b`) for CSV headers, in declaration order. */
  columns: string[];
}

/** Is this a zod schema (v4) rather than a JSON Schema object? */
function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as z.ZodType).safeParse === 'function';
}

/**
 * Compile an answer schema from a JSON Schema object or a zod schema (SCHEMA_INVALID when it cannot be used).
 * JSON Schemas are converted to zod with `z.fromJSONSchema` (no extra validator dependency); zod schemas
 * are shown to the model via `z.toJSONSchema`.
 * @example const s = compileAnswerSchema(z.object({ sentiment: z.enum(['pos', 'neg']) }));
 */
export function compileAnswerSchema(schema: JsonSchema | z.ZodType | AnswerSchema): AnswerSchema {
  if (isAnswerSchema(schema)) return schema;
  let jsonSchema: JsonSchema;
  let validator: z.ZodType;
  try {
    if (isZodSchema(schema)) {
      validator = schema;
      jsonSchema = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
      delete jsonSchema.$schema;
    } else if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
      jsonSchema = schema;
      validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    } else {
      throw new Error('expected a JSON Schema object or a zod schema');
    }
  } catch (err) {
    if (err instanceof KbatchError) throw err;
    throw new KbatchError('SCHEMA_INVALID', `answer schema cannot be used: ${(err as Error).message}`, { cause: err });
  }
  const fields = objectProperties(jsonSchema);
  return { jsonSchema, validator, fields: fields ? Object.keys(fields) : null, columns: leafColumns(jsonSchema, '') };
}

function isAnswerSchema(value: unknown): value is AnswerSchema {
  return typeof value === 'object' && value !== null && 'validator' in value && 'jsonSchema' in value && 'columns' in value;
}

/**
 * Read and compile a JSON Schema file (SCHEMA_INVALID with the file name when unreadable or not JSON).
 * @param file - path to a `.json` file holding a JSON Schema
 */
export async function loadAnswerSchema(file: string): Promise<AnswerSchema> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KbatchError('INPUT_NOT_FOUND', `schema file ${file} cannot be read: ${(err as Error).message}`, { file, cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new KbatchError('SCHEMA_INVALID', `schema file ${file} is not valid JSON: ${(err as Error).message}`, { file, cause: err });
  }
  try {
    return compileAnswerSchema(parsed as JsonSchema);
  } catch (err) {
    if (err instanceof KbatchError) throw new KbatchError(err.code, `${file}: ${err.message}`, { file, cause: err.cause });
    throw err;
  }
}

/**
 * The instruction appended to the user prompt under `--schema`.
 * @example buildSchemaInstruction(s) // 'Respond with JSON only, matching this JSON Schema: {"type":"object",…}'
 */
export function buildSchemaInstruction(schema: JsonSchema | z.ZodType | AnswerSchema): string {
  return `Respond with JSON only, matching this JSON Schema: ${JSON.stringify(compileAnswerSchema(schema).jsonSchema)}`;
}

/**
 * Parse an answer as JSON (bare or in a ``` fence) and validate it; ANSWER_INVALID names the failing path.
 * @returns the validated value (zod output, so transforms/defaults apply)
 */
export function parseSchemaAnswer(answer: string | null | undefined, schema: JsonSchema | z.ZodType | AnswerSchema): unknown {
  const compiled = compileAnswerSchema(schema);
  const value = parseJsonAnswer(answer);
  const result = compiled.validator.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
  throw new KbatchError('ANSWER_INVALID', `answer does not match the schema at ${path}: ${issue.message}`, {
    field: path,
    cause: result.error,
  });
}

function objectProperties(schema: unknown): Record<string, unknown> | null {
  if (typeof schema !== 'object' || schema === null) return null;
  const props = (schema as { properties?: unknown }).properties;
  if (typeof props !== 'object' || props === null || Array.isArray(props)) return null;
  return props as Record<string, unknown>;
}

// Nested object properties become `a.b` columns; arrays and scalars are single columns.
function leafColumns(schema: unknown, prefix: string): string[] {
  const props = objectProperties(schema);
  if (!props || Object.keys(props).length === 0) return prefix === '' ? [] : [prefix];
  const out: string[] = [];
  for (const [key, sub] of Object.entries(props)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    out.push(...(objectProperties(sub) ? leafColumns(sub, path) : [path]));
  }
  return out;
}
