import { z } from 'zod';
import { KbatchError } from '../errors.js';

/**
 * A unix timestamp as servers send it: kluster's reference shows ints on create and strings on get/list, so accept
 * numbers, digit strings and ISO dates (→ seconds); null/absent → null.
 */
export const TimestampSchema = z
  .union([z.number(), z.string(), z.null()])
  .optional()
  .transform((value, ctx) => {
    if (value === null || value === undefined || value === '') return null;
    if (typeof value === 'number') return value;
    if (/^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `must be a unix timestamp, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return Math.floor(ms / 1000);
  });

const count = z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number);

/** The request counts of a batch; missing or null counts read as zero. */
export const RequestCountsSchema = z
  .looseObject({ total: count.optional(), completed: count.optional(), failed: count.optional() })
  .nullish()
  .transform((c) => ({ total: c?.total ?? 0, completed: c?.completed ?? 0, failed: c?.failed ?? 0 }));
export type RequestCounts = z.output<typeof RequestCountsSchema>;

/** One entry of a failed batch's `errors.data` (validation errors carry the input line). */
export const BatchErrorEntrySchema = z.looseObject({
  code: z.string().nullish(),
  message: z.string().nullish(),
  param: z.string().nullish(),
  line: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).nullish(),
});
export type BatchErrorEntry = z.output<typeof BatchErrorEntrySchema>;

/**
 * A batch as kbatch understands it. Status is any string: kluster reports values beyond the documented
 * list (e.g. `pre_schedule`), and kbatch treats unknown ones as "still running".
 */
export const BatchSchema = z.looseObject({
  id: z.string().min(1),
  object: z.string().optional(),
  status: z.string().min(1),
  endpoint: z.string().nullish(),
  input_file_id: z.string().nullish(),
  completion_window: z.string().nullish(),
  output_file_id: z.string().nullish().transform((v) => v || null),
  error_file_id: z.string().nullish().transform((v) => v || null),
  created_at: TimestampSchema,
  in_progress_at: TimestampSchema,
  expires_at: TimestampSchema,
  finalizing_at: TimestampSchema,
  completed_at: TimestampSchema,
  failed_at: TimestampSchema,
  expired_at: TimestampSchema,
  cancelling_at: TimestampSchema,
  cancelled_at: TimestampSchema,
  request_counts: RequestCountsSchema,
  errors: z
    .looseObject({ data: z.array(BatchErrorEntrySchema).nullish().transform((d) => d ?? []) })
    .nullish()
    .transform((e) => e ?? null),
  metadata: z.record(z.string(), z.unknown()).nullish().transform((m) => m ?? null),
});
export type KBatch = z.output<typeof BatchSchema>;

/** An uploaded file. */
export const FileObjectSchema = z.looseObject({
  id: z.string().min(1),
  object: z.string().optional(),
  bytes: count.nullish(),
  created_at: TimestampSchema,
  filename: z.string().nullish(),
  purpose: z.string().nullish(),
});
export type KFile = z.output<typeof FileObjectSchema>;

/** One page of a cursor list (extra fields such as count/page/page_count/items_per_page are ignored). */
export const ListPageSchema = z.looseObject({
  data: z.array(z.unknown()),
  has_more: z.boolean().nullish(),
  first_id: z.string().nullish(),
  last_id: z.string().nullish(),
});

/** Statuses after which a batch never changes again. */
export const TERMINAL_BATCH_STATUSES = ['completed', 'failed', 'expired', 'cancelled'] as const;

/** True when the batch will not change any more (unknown statuses count as still running). */
export function isTerminalStatus(status: string): boolean {
  return (TERMINAL_BATCH_STATUSES as readonly string[]).includes(status);
}

/**
 * Validate a server object at the boundary; a wrong shape becomes RESPONSE_INVALID naming the field.
 * @param schema - e.g. {@link BatchSchema}
 * @param value - the parsed JSON the server sent
 * @param what - what was expected, for the message ("batch", "file", "batch list page")
 */
export function parseResponse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  const id = typeof value === 'object' && value !== null && 'id' in value ? ` ${String((value as { id: unknown }).id)}` : '';
  throw new KbatchError(
    'RESPONSE_INVALID',
    `The server sent an invalid ${what}${id}: ${path === '' ? '' : `\`${path}\` `}${issue.message}`,
    { field: path || undefined, cause: result.error },
  );
}

/** Parse a batch object (see {@link BatchSchema}). */
export const parseBatch = (value: unknown): KBatch => parseResponse(BatchSchema, value, 'batch');
/** Parse a file object (see {@link FileObjectSchema}). */
export const parseFile = (value: unknown): KFile => parseResponse(FileObjectSchema, value, 'file');
