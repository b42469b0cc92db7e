import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type OpenAI from 'openai';
import { z } from 'zod';
import { isTransientError } from '../client/retry.js';
import { uploadFile, type UploadClient } from '../client/index.js';
import { backoffDelay, retryAfterMs, sleep } from '../client/retry.js';
import { KbatchError } from '../errors.js';
import { functionField, parseOptions, positiveIntField, signalField } from '../options.js';
import { parseFineTuneJob, type FineTuneJob } from './job-schema.js';
import { FINE_TUNABLE_MODELS, fineTuneContextWindow } from './models.js';
import { withRequestSignal } from '../internal/request-signal.js';

/** Uploads one local file with purpose `fine-tune` and returns its id. */
export type FineTuneUpload = (path: string, options: { signal?: AbortSignal | undefined }) => Promise<{ id: string }>;

/**
 * The capability {@link createFineTuneJob} needs: `fineTuning.jobs.create` and `list` (to find a job whose create
 * answer was lost), plus, to upload local files, either the connection settings of an openai client (streamed
 * upload with backpressure) or `files.create`.
 */
export interface CreateFineTuneJobClient extends Partial<UploadClient> {
  fineTuning: { jobs: Pick<OpenAI['fineTuning']['jobs'], 'create' | 'list'> };
  files?: Pick<OpenAI['files'], 'create'>;
}

const positiveNumber = z.number({ error: 'must be a positive number' }).positive('must be a positive number');

/** Options of {@link createFineTuneJob}. */
export const CreateFineTuneJobOptionsSchema = z.object({
  client: z.custom<CreateFineTuneJobClient>(
    (v) => typeof (v as CreateFineTuneJobClient)?.fineTuning?.jobs?.create === 'function' && typeof (v as CreateFineTuneJobClient).fineTuning.jobs.list === 'function',
    { error: 'must be an openai client (fineTuning.jobs.create and list)' },
  ),
  /** Local JSONL path (uploaded with purpose `fine-tune`) or an uploaded file's id. */
  trainingFile: z.string({ error: 'must be a file path or file id' }).min(1, 'must be a file path or file id'),
  /** Local path or file id of the validation data. */
  validationFile: z.string({ error: 'must be a file path or file id' }).min(1, 'must be a file path or file id').optional(),
  /** Fine-tunable base model (see FINE_TUNABLE_MODELS). */
  model: z.string({ error: 'must be a model id' }).min(1, 'must be a model id'),
  epochs: positiveIntField().optional(),
  batchSize: positiveIntField().optional(),
  learningRateMultiplier: positiveNumber.optional(),
  /** Suffix the server appends to the fine-tuned model's name. */
  nickname: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  /** Fine-tunable models and their context windows (default FINE_TUNABLE_MODELS). */
  models: z.record(z.string(), positiveIntField(), { error: 'must map model ids to context windows' }).optional(),
  /** How to upload local files (default: the client area's backpressured `uploadFile`, else `client.files.create`). */
  upload: functionField<FineTuneUpload>().optional(),
  /** Base directory of relative paths (default `process.cwd()`). */
  cwd: z.string().optional(),
  /** Called after each upload (for progress output). */
  onUpload: functionField<(info: { path: string; fileId: string; role: 'training' | 'validation' }) => void>().optional(),
  /**
   * Requests (creates and look-ups) before a transient error is thrown. The create is sent without SDK retries
   * (no idempotency key): after a timeout/5xx/dropped connection, recent jobs are listed and a matching one adopted.
   */
  maxAttempts: positiveIntField().default(5),
  /** First backoff between attempts (doubles, jittered, up to 30 s; Retry-After wins). */
  retryBaseMs: positiveIntField().default(500),
  signal: signalField().optional(),
});
export type CreateFineTuneJobOptions = z.input<typeof CreateFineTuneJobOptionsSchema>;

/**
 * Create a fine-tuning job: checks the model is fine-tunable (FINETUNE_MODEL_UNSUPPORTED lists the ones that
 * are) before anything is uploaded, uploads local training/validation files with purpose `fine-tune` (an
 * argument that is not an existing file is taken as a file id), then creates the job. The create never runs twice
 * for one server-side job: it is sent without SDK retries, and after a transient error (timeout, 5xx, dropped
 * connection) the recent jobs are listed first and one with the same training file and model, created since the
 * first attempt, is adopted; only when none exists is the create sent again (`maxAttempts`, backoff).
 * @param options - see {@link CreateFineTuneJobOptions}
 * @example
 * const job = await createFineTuneJob({
 *   client, trainingFile: 'train.jsonl', model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', epochs: 3,
 * });
 */
export async function createFineTuneJob(options: CreateFineTuneJobOptions): Promise<FineTuneJob> {
  const opts = parseOptions(CreateFineTuneJobOptionsSchema, options, 'createFineTuneJob');
  fineTuneContextWindow(opts.model, opts.models ?? FINE_TUNABLE_MODELS);
  const upload = opts.upload ?? defaultUpload(opts.client);
  const fileId = async (value: string, role: 'training' | 'validation'): Promise<string> => {
    const path = await localFile(value, opts.cwd);
    if (path === undefined) return value;
    const { id } = await withRequestSignal(opts.signal, (signal) => upload(path, { signal }));
    opts.onUpload?.({ path, fileId: id, role });
    return id;
  };
  const training_file = await fileId(opts.trainingFile, 'training');
  const validation_file = opts.validationFile === undefined ? undefined : await fileId(opts.validationFile, 'validation');
  const hyperparameters = {
    ...(opts.batchSize === undefined ? {} : { batch_size: opts.batchSize }),
    ...(opts.learningRateMultiplier === undefined ? {} : { learning_rate_multiplier: opts.learningRateMultiplier }),
    ...(opts.epochs === undefined ? {} : { n_epochs: opts.epochs }),
  };
  // kluster names the model suffix `nickname` (OpenAI: `suffix`); the SDK passes unknown body fields through.
  const body = {
    model: opts.model,
    training_file,
    ...(validation_file === undefined ? {} : { validation_file }),
    ...(Object.keys(hyperparameters).length === 0 ? {} : { hyperparameters }),
    ...(opts.nickname === undefined ? {} : { nickname: opts.nickname }),
  };
  return createOnce(opts.client.fineTuning.jobs, body, opts);
}

type Jobs = CreateFineTuneJobClient['fineTuning']['jobs'];

/**
 * `jobs.create` at most once per server-side job: a transient failure may come after the server created the job
 * (a lost answer), so before each retry the recent jobs are listed and one with the same training file and model,
 * created since the first attempt, is adopted instead of paying for a second one.
 */
async function createOnce(
  jobs: Jobs,
  body: { model: string; training_file: string },
  opts: { maxAttempts: number; retryBaseMs: number; signal?: AbortSignal | undefined },
): Promise<FineTuneJob> {
  const since = Math.floor(Date.now() / 1000);
  const requestOptions = (signal: AbortSignal | undefined) => ({ maxRetries: 0, ...(signal ? { signal } : {}) });
  let attempts = 0;
  const failed = async (err: unknown) => {
    if (!isTransientError(err) || ++attempts >= opts.maxAttempts) throw err;
    await sleep(retryAfterMs(err) ?? backoffDelay(attempts - 1, { baseMs: opts.retryBaseMs }), opts.signal);
  };
  for (;;) {
    try {
      return parseFineTuneJob(await withRequestSignal(opts.signal, (signal) => jobs.create(body, requestOptions(signal))));
    } catch (err) {
      await failed(err);
    }
    // Did the failed create reach the server? Keep looking (bounded) until a listing answers.
    for (;;) {
      try {
        const adopted = await withRequestSignal(opts.signal, (signal) => findCreatedJob(jobs, body, since, requestOptions(signal)));
        if (adopted) return adopted;
        break;
      } catch (err) {
        await failed(err);
      }
    }
  }
}

/** The newest job with this training file and model created at or after `since` (pages stop at older jobs). */
async function findCreatedJob(
  jobs: Jobs,
  body: { model: string; training_file: string },
  since: number,
  requestOptions: { maxRetries: number; signal?: AbortSignal },
): Promise<FineTuneJob | undefined> {
  let after: string | undefined;
  for (;;) {
    const page = (await jobs.list({ limit: 20, ...(after === undefined ? {} : { after }) }, requestOptions)) as unknown as {
      data?: unknown[];
      has_more?: unknown;
    };
    const data = (page.data ?? []).map(parseFineTuneJob);
    for (const job of data) {
      if (job.training_file === body.training_file && job.model === body.model && (job.created_at ?? since) >= since) return job;
    }
    const last = data.at(-1);
    if (page.has_more !== true || !last || (last.created_at !== null && last.created_at < since)) return undefined;
    after = last.id;
  }
}

/**
 * The path to upload, or undefined when `value` is a file id. Something that looks like a path (a separator
 * or a .jsonl/.json ending) but does not exist is INPUT_NOT_FOUND rather than a bogus file id.
 */
async function localFile(value: string, cwd: string | undefined): Promise<string | undefined> {
  const path = resolve(cwd ?? process.cwd(), value);
  try {
    if ((await stat(path)).isFile()) return path;
  } catch {
    // not a local file
  }
  if (/[\\/]/.test(value) || /\.jsonl?$/i.test(value)) {
    throw new KbatchError('INPUT_NOT_FOUND', `training data file not found: ${value}`, { file: value });
  }
  return undefined;
}

// A real openai client uploads through uploadFile (undici, backpressure). The files.create fallback (fakes, other
// clients) has the Node 20 fetch caveat: no backpressure on the multipart body, so RSS can grow to the file size.
function defaultUpload(client: CreateFineTuneJobClient): FineTuneUpload {
  return async (path, { signal }) => {
    if (typeof client.baseURL === 'string' && client.apiKey !== undefined && typeof client.maxRetries === 'number') {
      return uploadFile(client as UploadClient, path, { purpose: 'fine-tune', ...(signal ? { signal } : {}) });
    }
    if (!client.files) throw new KbatchError('OPTION_INVALID', 'Invalid option `client`: must have files.create to upload local files');
    return client.files.create({ file: createReadStream(path), purpose: 'fine-tune' }, signal ? { signal } : undefined);
  };
}
