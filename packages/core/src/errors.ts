/**
 * Stable, area-prefixed error codes. Callers branch on `code`, never on message text.
 * Add a code here (and assert it in a test) when a new failure deserves its own name.
 */
export const KBATCH_ERROR_CODES = [
  // options and input
  'OPTION_INVALID',
  'INPUT_NOT_FOUND',
  'INPUT_FORMAT_UNKNOWN',
  'INPUT_ENCODING',
  'RECORD_INVALID',
  // request building
  'TEMPLATE_INVALID',
  'TEMPLATE_FIELD_MISSING',
  'CUSTOM_ID_MISSING',
  'CUSTOM_ID_DUPLICATE',
  // chunking
  'LINE_TOO_LARGE',
  'LINE_INVALID',
  // one request's estimated prompt tokens exceed the per-batch token budget (maxBatchTokens)
  'LINE_OVER_TOKEN_BUDGET',
  // a request file the provider would refuse (kbatch lint; run and submit before any upload)
  'LINT_FAILED',
  // a chat parameter the provider does not take (named with the provider), refused before anything is sent
  'PARAM_UNSUPPORTED',
  // cost: the worst-case estimate is above --max-cost / the estimate cannot be checked against it (price or cap unknown)
  'BUDGET_EXCEEDED',
  'COST_UNKNOWN',
  // client and API boundary
  'API_KEY_MISSING',
  'RESPONSE_INVALID',
  'UPLOAD_FAILED',
  // batches
  'BATCH_FAILED',
  'BATCH_EXPIRED',
  'BATCH_CANCELLED',
  'AWAIT_TIMEOUT',
  // an ended batch names its error file but, past the grace, not its output file: answers may exist, none is sent again
  'BATCH_OUTPUT_MISSING',
  // spending would pass the cost cap (maxCost): nothing more is sent; what was answered is kept
  'BUDGET_EXCEEDED',
  'DOWNLOAD_INCOMPLETE',
  'ABORTED',
  // a batch may have been created without its id recorded, and kbatch cannot tell which listed batch is the part's
  'ADOPTION_UNCERTAIN',
  // job directory
  'JOB_NOT_FOUND',
  'JOB_INVALID',
  'JOB_LOCKED',
  'JOB_MISMATCH',
  // a detached job (kbatch run --detach): its rows are not written yet; no step of it is queued or running (not queued, or lost)
  'JOB_NOT_FINISHED',
  'JOB_NOT_QUEUED',
  // job state in Postgres: a write lost its compare-and-set (another process changed it); the database's schema is newer than this kbatch
  'STATE_CONFLICT',
  'STATE_SCHEMA_NEWER',
  // the connection holding the job's Postgres lock ended while the job ran: another process may now drive the job
  'JOB_LOCK_LOST',
  // the database given by --database-url / KBATCH_DATABASE_URL cannot be reached or refused the connection (its password is never shown)
  'DATABASE_UNAVAILABLE',
  // a file or directory kbatch must write (job directory, output, rejects) cannot be created or written
  'OUTPUT_UNWRITABLE',
  // join
  'JOIN_MISSING_RESULT',
  'JOIN_UNKNOWN_RESULT',
  'JOIN_DUPLICATE_RESULT',
  'JOIN_FIELD_COLLISION',
  'ANSWER_INVALID',
  'SCHEMA_INVALID',
  // realtime
  'REQUEST_FAILED',
  // fine-tuning
  'FINETUNE_EXAMPLE_INVALID',
  'FINETUNE_MODEL_UNSUPPORTED',
  'FINETUNE_FAILED',
  'FINETUNE_CANCELLED',
  // evaluation: a row lacks the gold, prediction or --by column; more distinct labels than a confusion matrix can hold;
  // more distinct --by values than groups are kept
  'EVAL_COLUMN_MISSING',
  'EVAL_TOO_MANY_LABELS',
  'EVAL_TOO_MANY_GROUPS',
  'SAMPLE_TOO_MANY_STRATA',
  'SAMPLE_COLUMN_MISSING',
] as const;

export type KbatchErrorCode = (typeof KBATCH_ERROR_CODES)[number];

/** Where an error happened; every field is optional and only set when known. */
export interface KbatchErrorContext {
  /** Input file path (or `-` for stdin). */
  file?: string;
  /** 1-based physical line number in the input file. */
  line?: number;
  /** 1-based record (row) number, header excluded. */
  record?: number;
  /** Record field or option name involved. */
  field?: string;
  customId?: string;
  batchId?: string;
  fileId?: string;
  /** Original error (kept so nothing is lost when we add context). */
  cause?: unknown;
}

const BRAND = Symbol.for('kbatch.error');

/**
 * The one error class of kbatch: a stable `code`, a message meant for humans and context fields.
 * @example
 * throw new KbatchError('CUSTOM_ID_DUPLICATE', 'custom_id "7" is used by rows 3 and 9', { customId: '7' });
 */
export class KbatchError extends Error {
  readonly code: KbatchErrorCode;
  readonly file?: string;
  readonly line?: number;
  readonly record?: number;
  readonly field?: string;
  readonly customId?: string;
  readonly batchId?: string;
  readonly fileId?: string;
  readonly [BRAND] = true;

  constructor(code: KbatchErrorCode, message: string, context: KbatchErrorContext = {}) {
    const { cause, ...fields } = context;
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KbatchError';
    this.code = code;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) (this as Record<string, unknown>)[key] = value;
    }
  }
}

/** True for any KbatchError, also across duplicated module copies (brand check, not instanceof). */
export function isKbatchError(value: unknown): value is KbatchError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
