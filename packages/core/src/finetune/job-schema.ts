import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { TimestampSchema as timestamp } from '../client/schemas.js';

const numberish = z.union([z.number(), z.string()]).nullish();

/**
 * A fine-tuning job as kbatch reads it: tolerant of int/string timestamps, nulls and extra fields.
 * `status` stays a free string (servers use pending/queued/validating_files/running/…); see
 * {@link FINE_TUNE_TERMINAL_STATUSES}.
 */
export const FineTuneJobSchema = z.looseObject({
  id: z.string().min(1),
  object: z.string().nullish(),
  model: z.string().nullish().transform((v) => v ?? null),
  status: z.string().min(1),
  created_at: timestamp,
  finished_at: timestamp,
  fine_tuned_model: z.string().nullish().transform((v) => v || null),
  training_file: z.string().nullish().transform((v) => v ?? null),
  validation_file: z.string().nullish().transform((v) => v ?? null),
  result_files: z.array(z.unknown()).nullish().transform((v) => v ?? []),
  trained_tokens: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).nullish().transform((v) => v ?? null),
  hyperparameters: z
    .looseObject({ batch_size: numberish, learning_rate_multiplier: numberish, n_epochs: numberish })
    .nullish()
    .transform((v) => v ?? null),
  error: z
    .looseObject({ code: z.string().nullish(), message: z.string().nullish(), param: z.string().nullish() })
    .nullish()
    .transform((v) => (v && (v.code || v.message) ? v : null)),
});
/** A parsed fine-tuning job. */
export type FineTuneJob = z.output<typeof FineTuneJobSchema>;

/** Statuses after which a job never changes. */
export const FINE_TUNE_TERMINAL_STATUSES: readonly string[] = ['succeeded', 'failed', 'cancelled'];

/** Parse a server job object; RESPONSE_INVALID when it is not one. */
export function parseFineTuneJob(value: unknown): FineTuneJob {
  const result = FineTuneJobSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new KbatchError(
    'RESPONSE_INVALID',
    `The server sent an unexpected fine-tuning job: \`${issue.path.join('.') || '(root)'}\` ${issue.message}`,
    { cause: result.error },
  );
}
