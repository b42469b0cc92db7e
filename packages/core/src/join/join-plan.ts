import { z } from 'zod';
import { AnswerOptionsSchema, createAnswerParser, type AnswerParser } from '../answers/answer-parser.js';
import { KbatchError } from '../errors.js';
import { booleanField, functionField, parseOptions } from '../options.js';
import type { SourceRecord } from '../records/source-record.js';
import { customIdFor } from '../request/custom-id.js';

/** Options shared by `joinRecord`, `joinStream`, `joinChunks` and `joinFiles`: how a joined record looks. */
export const JoinRecordOptionsSchema = z.object({
  ...AnswerOptionsSchema.shape,
  /** Input field holding each record's custom_id (as used when the requests were built); default `row-<record number>`. */
  idColumn: z.string().min(1, { error: 'must be a non-empty field name' }).optional(),
  /** Custom id function (overrides `idColumn`) when the requests were built with one. */
  customId: functionField<(record: SourceRecord) => string>().optional(),
  /** Prepended to every added field name (`kb_` → `kb_response`), to avoid collisions with input fields. */
  prefix: z
    .string()
    .regex(/^[^\s.]*$/, { error: 'must not contain spaces or dots' })
    .default(''),
  /** Add the whole response body as field `raw`. */
  keepRaw: booleanField().default(false),
});
/** Options of a join (see {@link JoinRecordOptionsSchema}). */
export type JoinRecordOptions = z.input<typeof JoinRecordOptionsSchema>;

/** Compiled join options: build once, join many records. */
export interface JoinPlan {
  readonly kind: 'join-plan';
  readonly prefix: string;
  readonly keepRaw: boolean;
  readonly answers: AnswerParser;
  /** Every added field name, prefixed, in output order. */
  readonly fields: readonly string[];
  /** Declared output columns after the input's (prefixed, answer fields flattened) for CSV headers. */
  readonly columns: readonly string[];
  /** The prefixed name of `raw` (written whole as JSON in CSV), or null. */
  readonly rawField: string | null;
  customIdFor(record: SourceRecord): string;
  /** Prefixed name of an added field. */
  name(field: string): string;
  /** The prefixed names of the fixed added fields and of the answer's fields, computed once (the join's hot path). */
  readonly names: AddedNames;
}

/** Prefixed names of the fields a join adds, computed once per plan. */
export interface AddedNames {
  customId: string;
  response: string;
  finishReason: string;
  promptTokens: string;
  completionTokens: string;
  error: string;
  raw: string;
  /** Answer field (unprefixed) → prefixed name. */
  answer: ReadonlyMap<string, string>;
}

/**
 * Compile join options once (validates them: OPTION_INVALID / SCHEMA_INVALID).
 * @example const plan = createJoinPlan({ labels: ['yes', 'no'], prefix: 'kb_' });
 */
export function createJoinPlan(options: JoinRecordOptions | JoinPlan = {}): JoinPlan {
  if ((options as JoinPlan).kind === 'join-plan') return options as JoinPlan;
  const opts = parseOptions(JoinRecordOptionsSchema, options, 'join');
  const answers = createAnswerParser({ labels: opts.labels, schema: opts.schema, confidence: opts.confidence });
  const name = (field: string): string => opts.prefix + field;
  const base = ['custom_id', ...answers.fields, 'response', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'error'];
  if (opts.keepRaw) base.push('raw');
  const tail = ['response', 'finish_reason', 'prompt_tokens', 'completion_tokens', 'error', ...(opts.keepRaw ? ['raw'] : [])];
  const idColumn = opts.idColumn;
  const customIdFn = opts.customId;
  return {
    kind: 'join-plan',
    prefix: opts.prefix,
    keepRaw: opts.keepRaw,
    answers,
    fields: base.map(name),
    columns: ['custom_id', ...answers.columns, ...tail].map(name),
    rawField: opts.keepRaw ? name('raw') : null,
    customIdFor: customIdFn ?? ((record) => customIdFor(record, idColumn)),
    name,
    names: {
      customId: name('custom_id'),
      response: name('response'),
      finishReason: name('finish_reason'),
      promptTokens: name('prompt_tokens'),
      completionTokens: name('completion_tokens'),
      error: name('error'),
      raw: name('raw'),
      answer: new Map(answers.fields.map((f) => [f, name(f)])),
    },
  };
}

/**
 * Fail when an added field would overwrite an input field (JOIN_FIELD_COLLISION names it and suggests a prefix).
 * An input `custom_id` equal to the record's id is not a collision (it is the same value).
 * Prepare calls it too (with `file`), so a collision stops the run before anything is sent.
 */
export function assertNoCollision(record: SourceRecord, plan: JoinPlan, customId: string, file?: string): void {
  const data = record.data;
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (!Object.hasOwn(data, field)) continue;
    if (field === plan.names.customId && String(data[field]) === customId) continue;
    const suggestion = plan.prefix === '' ? 'kb_' : `kb_${plan.prefix}`;
    const where = file !== undefined && file !== '-' ? `${file}: ` : '';
    throw new KbatchError(
      'JOIN_FIELD_COLLISION',
      `${where}input field "${field}" (record ${record.index}, line ${record.line}) would be overwritten by the field kbatch adds; set a prefix for added fields, e.g. --prefix ${suggestion} (option \`prefix: '${suggestion}'\`) to name it "${suggestion}${field.slice(plan.prefix.length)}"`,
      { field, record: record.index, line: record.line, customId, ...(file !== undefined ? { file } : {}) },
    );
  }
}
