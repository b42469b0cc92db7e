// How many completion tokens a job's answers are expected to take, and at most.
import type { JsonSchema } from '../answers/answer-schema.js';
import type { TextTokenizer } from './tokenizer.js';

/** Expected completion tokens when a job asks for free text and sets no max_completion_tokens (a guess, said as one). */
export const DEFAULT_EXPECTED_COMPLETION_TOKENS = 256;
/** The end-of-turn token a model generates after its answer (`<|eot_id|>`, `<|im_end|>`), counted as completion. */
const END_OF_TURN = 1;
/** A JSON string value of unknown length in a `--schema` answer, in tokens (a guess: a short phrase). */
const SCHEMA_STRING_TOKENS = 8;

/** The completion tokens of one answer: expected and worst case, and where each figure comes from. */
export interface CompletionTokens {
  expected: number;
  /** Null when neither max_completion_tokens nor the model's output cap is known. */
  max: number | null;
  expectedFrom: 'labels' | 'schema' | 'max_completion_tokens' | 'default';
  maxFrom: 'max_completion_tokens' | 'model output cap' | 'unknown';
}

/**
 * Completion tokens per request. Expected: `labels` → the longest label's tokens + 1 end-of-turn token; `schema` →
 * the tokens of a compact JSON answer with every property present ({@link schemaAnswerTokens}) + 1; else
 * max_completion_tokens, else {@link DEFAULT_EXPECTED_COMPLETION_TOKENS}; never above the worst case. Worst case:
 * max_completion_tokens, else the model's output cap (from the price table), else unknown.
 */
export function completionTokens(
  tokenizer: TextTokenizer,
  job: { labels?: readonly string[] | undefined; jsonSchema?: JsonSchema | undefined; maxCompletionTokens?: number | undefined; outputCap?: number | undefined },
): CompletionTokens {
  const max = job.maxCompletionTokens ?? job.outputCap ?? null;
  const maxFrom = job.maxCompletionTokens !== undefined ? 'max_completion_tokens' : job.outputCap !== undefined ? 'model output cap' : 'unknown';
  const cap = (n: number): number => (max === null ? n : Math.min(n, max));
  if (job.labels !== undefined && job.labels.length > 0) {
    return { expected: cap(Math.max(...job.labels.map((l) => tokenizer.count(l))) + END_OF_TURN), max, expectedFrom: 'labels', maxFrom };
  }
  if (job.jsonSchema !== undefined) return { expected: cap(schemaAnswerTokens(tokenizer, job.jsonSchema) + END_OF_TURN), max, expectedFrom: 'schema', maxFrom };
  if (job.maxCompletionTokens !== undefined) return { expected: job.maxCompletionTokens, max, expectedFrom: 'max_completion_tokens', maxFrom };
  return { expected: cap(DEFAULT_EXPECTED_COMPLETION_TOKENS), max, expectedFrom: 'default', maxFrom };
}

/**
 * The tokens of a compact JSON answer to a schema, every property present: an object's braces, keys and commas; an
 * array as one item; a string enum or const as its longest value; a free string as {@link SCHEMA_STRING_TOKENS};
 * a number, boolean or null as one token each (two for a number). An estimate, not a bound.
 */
export function schemaAnswerTokens(tokenizer: TextTokenizer, schema: unknown, depth = 0): number {
  if (typeof schema !== 'object' || schema === null || depth > 8) return SCHEMA_STRING_TOKENS;
  const s = schema as { type?: unknown; properties?: Record<string, unknown>; items?: unknown; enum?: unknown[]; const?: unknown; anyOf?: unknown[]; oneOf?: unknown[] };
  if (Array.isArray(s.enum) && s.enum.length > 0) return Math.max(...s.enum.map((v) => tokenizer.count(JSON.stringify(v))));
  if (s.const !== undefined) return tokenizer.count(JSON.stringify(s.const));
  const variants = s.anyOf ?? s.oneOf;
  if (Array.isArray(variants) && variants.length > 0) return Math.max(...variants.map((v) => schemaAnswerTokens(tokenizer, v, depth + 1)));
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (type === 'object' || s.properties !== undefined) {
    let total = 2;
    for (const [key, value] of Object.entries(s.properties ?? {})) total += tokenizer.count(`"${key}":`) + schemaAnswerTokens(tokenizer, value, depth + 1) + 1;
    return total;
  }
  if (type === 'array') return 2 + schemaAnswerTokens(tokenizer, s.items, depth + 1);
  if (type === 'number' || type === 'integer') return 2;
  if (type === 'boolean' || type === 'null') return 1;
  return SCHEMA_STRING_TOKENS;
}
