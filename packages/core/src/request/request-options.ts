import { z } from 'zod';
import { booleanField, nonEmptyField } from '../options.js';

const between = (min: number, max: number) =>
  z.number({ error: `must be a number between ${min} and ${max}` }).min(min, { error: `must be between ${min} and ${max}` }).max(max, { error: `must be between ${min} and ${max}` });

/**
 * The chat parameters of the kluster reference, camelCased. Only the ones given reach the request body:
 * kbatch adds no defaults on the user's behalf.
 */
export const ChatParamsSchema = z.object({
  /** -2..2 */
  frequencyPenalty: between(-2, 2).optional(),
  /** -2..2 */
  presencePenalty: between(-2, 2).optional(),
  /** Token id (digits) → bias -100..100. */
  logitBias: z
    .record(
      z.string().regex(/^\d+$/, { error: 'must map token ids (digits) to biases' }),
      between(-100, 100),
      { error: 'must be an object mapping token ids to numbers between -100 and 100' },
    )
    .optional(),
  logprobs: booleanField().optional(),
  /** 0..20, only together with `logprobs: true`. */
  topLogprobs: z.number({ error: 'must be an integer between 0 and 20' }).int({ error: 'must be an integer between 0 and 20' }).min(0, { error: 'must be an integer between 0 and 20' }).max(20, { error: 'must be an integer between 0 and 20' }).optional(),
  maxCompletionTokens: z.number({ error: 'must be a positive integer' }).int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).optional(),
  seed: z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' }).optional(),
  /** A string or 1–4 strings. */
  stop: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1).max(4)], {
      error: 'must be a non-empty string or a list of 1 to 4 non-empty strings',
    })
    .optional(),
  temperature: between(0, 2).optional(),
  topP: between(0, 1).optional(),
  /** Refused: batch request lines cannot stream. Listed so the error names it. */
  stream: z.undefined({ error: 'must not be set: batch requests cannot stream' }).optional(),
});

/** Chat parameters as given. */
export type ChatParams = z.input<typeof ChatParamsSchema>;

/** The request's own fields besides the chat parameters (shared with `runJob`'s options, where a rerun may omit them). */
export const RequestFieldsSchema = z.object({
  /** Model name, e.g. `klusterai/Meta-Llama-3.1-8B-Instruct-Turbo`. */
  model: nonEmptyField('must be a model name', 'must be a non-empty model name'),
  /** User prompt template: `{{column}}`, `{{a.b}}`; `\{{` writes a literal `{{`. */
  prompt: nonEmptyField('must be a template string', 'must be a non-empty template'),
  /** Optional system prompt, also a template. */
  system: nonEmptyField('must be a template string', 'must be a non-empty template').optional(),
  /** Column/field holding a unique, non-empty id; without it ids are `row-<record number>`. */
  idColumn: nonEmptyField('must be a column name', 'must be a non-empty column name').optional(),
});

/** `topLogprobs` only together with `logprobs: true` (checked wherever chat parameters are given). */
export function checkTopLogprobs(o: { topLogprobs?: number | undefined; logprobs?: boolean | undefined }, ctx: z.RefinementCtx): void {
  if (o.topLogprobs !== undefined && o.logprobs !== true) {
    ctx.addIssue({ code: 'custom', path: ['topLogprobs'], message: 'must be used together with logprobs: true' });
  }
}

/** Everything needed to turn a record into a request line. */
export const RequestOptionsSchema = ChatParamsSchema.extend(RequestFieldsSchema.shape).strict().superRefine(checkTopLogprobs);

/** Options of `toBatchRequest` / `requestStream` as given. */
export type RequestOptions = z.input<typeof RequestOptionsSchema>;
/** The same after validation. */
export type ResolvedRequestOptions = z.output<typeof RequestOptionsSchema>;

/** Library option name → request body field, in the order they are written into the body. */
export const CHAT_PARAM_FIELDS = [
  ['frequencyPenalty', 'frequency_penalty'],
  ['presencePenalty', 'presence_penalty'],
  ['logitBias', 'logit_bias'],
  ['logprobs', 'logprobs'],
  ['topLogprobs', 'top_logprobs'],
  ['maxCompletionTokens', 'max_completion_tokens'],
  ['seed', 'seed'],
  ['stop', 'stop'],
  ['temperature', 'temperature'],
  ['topP', 'top_p'],
] as const;
