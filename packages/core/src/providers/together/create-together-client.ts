import OpenAI from 'openai';
import { KbatchError } from '../../errors.js';
import type { UploadFileOptions } from '../../client/upload-file.js';
import type { NativeClientInit } from '../native-clients.js';
import { toOpenAiBatch, type TogetherBatchJob } from './together-batch-view.js';
import { uploadTogetherInput } from './upload-together-input.js';
import { togetherResultFilesComplete, type ExpectedResults } from './together-result-files.js';
import type { KBatch } from '../../client/schemas.js';

/** Per-call options kbatch passes (as the openai client takes them). */
type CallOptions = { signal?: AbortSignal | undefined | null; maxRetries?: number; timeout?: number } | undefined;

const batchPath = (id: string): string => `/batches/${encodeURIComponent(id)}`;

/**
 * Together's Batch API behind the part of the openai client kbatch uses (registered as NATIVE_CLIENTS['together-batch']).
 * The client IS an openai client on Together's base URL: chat, models and file content/delete are OpenAI-compatible
 * and stay the SDK's (and its fast paths); only what differs is replaced. `batches` unwraps the created `{job}`, maps the
 * upper-case statuses and ISO times (see {@link toOpenAiBatch}) and sorts the bare-array list newest first; uploads take
 * Together's presigned flow with purpose `batch-api` ({@link uploadTogetherInput}); errors are the openai SDK's own
 * (its request path), so kbatch's retry rules apply. Together keeps no batch metadata (`batchMetadata: false`), but
 * every batch names its input file (`batchInputFile: true`): a lost create is adopted by the upload id kbatch
 * recorded before it. Without request counts, an ended batch that names only its error file is complete only when
 * that file answers every request (`resultFilesComplete`, see {@link togetherResultFilesComplete}). No together-ai import: its upload fails on Node 20, and the rest is plain HTTP.
 * @see https://docs.together.ai/reference/batch-create
 * @see https://docs.together.ai/docs/inference/batch/manage
 * @example const client = createClient({ provider: 'together', baseURL: 'http://127.0.0.1:8080/v1' });
 */
export function createTogetherClient(init: NativeClientInit): OpenAI {
  const client = new OpenAI({
    apiKey: init.apiKey,
    baseURL: init.baseURL,
    ...(init.maxRetries === undefined ? {} : { maxRetries: init.maxRetries }),
    ...(init.timeout === undefined ? {} : { timeout: init.timeout }),
    ...(init.fetch === undefined ? {} : { fetch: init.fetch }),
  });
  const sdk = client.files;
  const opts = (options: CallOptions) => ({ ...options, signal: options?.signal ?? null });
  const retrieve = async (id: string, options?: CallOptions) => toOpenAiBatch(await client.get<TogetherBatchJob>(batchPath(id), opts(options)));
  const batches = {
    async create(params: { input_file_id: string; endpoint: string; completion_window?: string }, options?: CallOptions) {
      // Together takes no metadata nor output expiry (BatchCreateParams): only what it documents is sent.
      const body = { endpoint: params.endpoint, input_file_id: params.input_file_id, ...(params.completion_window ? { completion_window: params.completion_window } : {}) };
      const answer = await client.post<{ job?: TogetherBatchJob; warning?: string }>('/batches', { body, ...opts(options) });
      if (!answer?.job?.id) throw new KbatchError('RESPONSE_INVALID', `Together answered the batch create for ${params.input_file_id} without a job id`);
      return { ...toOpenAiBatch(answer.job), ...(answer.warning ? { warning: answer.warning } : {}) };
    },
    retrieve,
    async list(query: { after?: string } = {}, options?: CallOptions) {
      // One bare array, no pages: a cursor only ever follows the last item.
      if (query.after !== undefined) return { object: 'list', data: [], has_more: false };
      const jobs = await client.get<TogetherBatchJob[] | { data?: TogetherBatchJob[] }>('/batches', opts(options));
      const data = (Array.isArray(jobs) ? jobs : (jobs?.data ?? [])).map(toOpenAiBatch);
      // Newest first, as kbatch's searches page (a time-bounded search stops at the first older batch).
      data.sort((a, b) => ((b['created_at'] as number | null) ?? Infinity) - ((a['created_at'] as number | null) ?? Infinity));
      return { object: 'list', data, has_more: false, first_id: data[0]?.['id'] ?? null, last_id: data.at(-1)?.['id'] ?? null };
    },
    cancel: async (id: string, options?: CallOptions) => toOpenAiBatch(await client.post<TogetherBatchJob>(`${batchPath(id)}/cancel`, opts(options))),
  };
  // File content, retrieve and delete are the SDK's (content keeps its fast path); list reads Together's one `{data}` page.
  const files = Object.assign(Object.create(sdk) as OpenAI['files'], {
    list: (_query?: unknown, options?: CallOptions) => listFiles(client, options),
  });
  const counted = new Map<string, number>();
  return Object.assign(client, {
    batches,
    files,
    batchMetadata: false,
    batchInputFile: true,
    // An ended batch naming only its error file is read only once that file answers every request (no counts to say so).
    resultFilesComplete: (batch: KBatch, expected: ExpectedResults) => togetherResultFilesComplete(sdk, batch, expected, counted),
    uploadBatchInput: (path: string, options: UploadFileOptions) =>
      uploadTogetherInput({ apiKey: init.apiKey, baseURL: init.baseURL, timeout: client.timeout, retrieveFile: (id, o) => sdk.retrieve(id, o) }, path, options),
  }) as unknown as OpenAI;
}

// Together lists every file in one page (`{data: [...]}`, together-ai `FileList`): the openai SDK's cursor would ask again after the last.
async function* listFiles(client: OpenAI, options: CallOptions): AsyncGenerator<Record<string, unknown>> {
  const page = await client.get<{ data?: Array<Record<string, unknown>> }>('/files', { ...options, signal: options?.signal ?? null });
  yield* page?.data ?? [];
}
