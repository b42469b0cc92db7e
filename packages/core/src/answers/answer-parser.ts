import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { booleanField, parseOptions } from '../options.js';
import { compileAnswerSchema, parseSchemaAnswer, type AnswerSchema, type JsonSchema } from './answer-schema.js';
import { labelConfidence, type TokenLogprob } from './confidence.js';
import { buildLabelInstruction, matchLabel, normalizeLabels } from './labels.js';

/** How answers are interpreted: free text (default), one of `labels`, or JSON matching `schema`. */
export const AnswerOptionsSchema = z
  .object({
    labels: z.array(z.string({ error: 'must be a list of labels' }), { error: 'must be a list of labels' }).optional(),
    schema: z
      .custom<JsonSchema | z.ZodType | AnswerSchema>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
        error: 'must be a JSON Schema object or a zod schema',
      })
      .optional(),
    /** Add `confidence` (labels only), computed from the first answer token's logprobs. */
    confidence: booleanField().default(false),
  })
  .refine((o) => !(o.labels && o.schema), { error: 'must not combine `labels` and `schema`', path: ['schema'] });

/** Distinct answers remembered with their label (beyond them, answers are matched each time). */
const MATCHED_MAX = 4096;

/** Options accepted by {@link createAnswerParser}. */
export type AnswerOptions = z.input<typeof AnswerOptionsSchema>;

/** What one answer turned into: extra output fields (always all keys of `fields`), plus the error if invalid. */
export interface ParsedAnswer {
  values: Record<string, unknown>;
  error: KbatchError | null;
}

/** Interprets answers the same way in the prompt (instruction) and in the join (parse). */
export interface AnswerParser {
  kind: 'text' | 'labels' | 'schema';
  /** Text to append to the user prompt (null for free text). */
  instruction: string | null;
  /** Output fields this parser adds (before any prefix), in order. */
  fields: string[];
  /** Declared flattened column names (before any prefix) for CSV headers. */
  columns: string[];
  /** Interpret one answer; never throws for a bad answer (the error is returned). */
  parse(answer: string | null, logprobs?: readonly TokenLogprob[] | null): ParsedAnswer;
}

/**
 * Build the answer interpretation shared by request building (instruction) and the join (parse).
 * @example
 * const p = createAnswerParser({ labels: ['yes', 'no'] });
 * p.instruction // 'Answer with exactly one of these labels: yes, no'
 * p.parse('Yes.') // { values: { label: 'yes' }, error: null }
 */
export function createAnswerParser(options: AnswerOptions = {}): AnswerParser {
  const opts = parseOptions(AnswerOptionsSchema, options, 'createAnswerParser');
  if (opts.labels) {
    const labels = normalizeLabels(opts.labels);
    const fields = opts.confidence ? ['label', 'confidence'] : ['label'];
    // Answers repeat (a few spellings of each label): each distinct one is matched once.
    const matched = new Map<string, string>();
    return {
      kind: 'labels',
      instruction: buildLabelInstruction(labels),
      fields,
      columns: fields,
      parse(answer, logprobs) {
        const values: Record<string, unknown> = {};
        for (let i = 0; i < fields.length; i++) values[fields[i]!] = null;
        if (answer === null) return { values, error: null };
        try {
          let label = matched.get(answer);
          if (label === undefined) {
            label = matchLabel(answer, labels);
            if (matched.size < MATCHED_MAX) matched.set(answer, label);
          }
          values.label = label;
          if (opts.confidence) values.confidence = labelConfidence(logprobs, label);
          return { values, error: null };
        } catch (err) {
          return { values, error: err as KbatchError };
        }
      },
    };
  }
  if (opts.schema) {
    const compiled = compileAnswerSchema(opts.schema);
    const fields = compiled.fields ?? ['answer'];
    const columns = compiled.fields ? compiled.columns : ['answer'];
    return {
      kind: 'schema',
      instruction: `Respond with JSON only, matching this JSON Schema: ${JSON.stringify(compiled.jsonSchema)}`,
      fields,
      columns,
      parse(answer) {
        const values: Record<string, unknown> = Object.fromEntries(fields.map((f) => [f, null]));
        if (answer === null) return { values, error: null };
        try {
          const value = parseSchemaAnswer(answer, compiled);
          if (compiled.fields) {
            for (const f of compiled.fields) values[f] = (value as Record<string, unknown>)?.[f] ?? null;
          } else {
            values.answer = value;
          }
          return { values, error: null };
        } catch (err) {
          return { values, error: err as KbatchError };
        }
      },
    };
  }
  return { kind: 'text', instruction: null, fields: [], columns: [], parse: () => ({ values: {}, error: null }) };
}

/**
 * Append an answer instruction to a user prompt (blank line between), or return the prompt unchanged.
 * @example appendInstruction('Review: {{text}}', p.instruction)
 */
export function appendInstruction(prompt: string, instruction: string | null | undefined): string {
  return instruction ? `${prompt.replace(/\s+$/, '')}\n\n${instruction}` : prompt;
}
