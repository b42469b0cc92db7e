import { Readable, Transform, type TransformCallback } from 'node:stream';
import type OpenAI from 'openai';
import { KbatchError } from '../../errors.js';
import { LineSplitter } from '../../internal/line-splitter.js';
import type { UploadFileOptions } from '../../client/upload-file.js';
import type { NativeClientInit } from '../native-clients.js';
import { geminiJson, geminiRequest, type GeminiHttp } from './gemini-http.js';
import { ERRORS_VIEW, MAX_DISPLAY_NAME, metadataToDisplayName, toOpenAiBatch, type GeminiOperation } from './gemini-batch-view.js';
import { fromGeminiLine } from './gemini-lines.js';
import { toChatCompletion, type GenerateContentResponse } from './from-generate-content.js';
import { toGenerateContent } from './to-generate-content.js';
import { listGeminiUploads, splitInputId, uploadGeminiInput } from './upload-gemini-input.js';

/** Per-call options kbatch passes (as the openai client takes them). */
interface CallOptions {
  signal?: AbortSignal | undefined;
  maxRetries?: number | undefined;
  timeout?: number | undefined;
}

/** The openai client's default per-request timeout (ms). */
const DEFAULT_TIMEOUT_MS = 600_000;

const batchName = (id: string): string => (id.startsWith('batches/') ? id : `batches/${id}`);

/**
 * The Gemini Batch API (Developer API, v1beta) behind the part of the openai client kbatch uses. Every call is raw
 * HTTP (undici), not @google/genai: the SDK renames the wire states and drops `batchStats` and the operation's error
 * (kbatch needs both), uploads only from a path or Blob (kbatch converts while it streams), downloads only to a
 * path, and its errors drop the response headers (Retry-After). Batches carry kbatch's metadata in `displayName`,
 * so a batch created just before a crash is adopted by the usual metadata search. A custom `fetch` is not used (undici
 * sends every request, with backpressure on uploads).
 * @example const client = createClient({ provider: 'gemini', baseURL: 'http://127.0.0.1:8080' });
 */
export function createGeminiClient(init: NativeClientInit): OpenAI {
  // The openai client's default timeout, applied to every call (undici's own default would be 300 s)
  const http: GeminiHttp = { origin: init.baseURL, apiKey: init.apiKey, timeout: init.timeout ?? DEFAULT_TIMEOUT_MS, maxRetries: init.maxRetries ?? 2 };
  const pageTokens = new Map<string, string>();
  const call = (options: CallOptions | undefined) => ({ signal: options?.signal, maxRetries: options?.maxRetries });
  const retrieve = async (id: string, options?: CallOptions) => toOpenAiBatch((await geminiJson(http, { method: 'GET', path: `v1beta/${batchName(id)}`, ...call(options) })) as GeminiOperation);
  const client = {
    apiKey: init.apiKey,
    baseURL: init.baseURL,
    maxRetries: http.maxRetries,
    timeout: http.timeout,
    uploadBatchInput: (path: string, options: UploadFileOptions) => uploadGeminiInput(http, path, options),
    batches: {
      async create(params: { input_file_id: string; metadata?: Record<string, string> | null }, options?: CallOptions) {
        const { file, model } = splitInputId(params.input_file_id);
        if (model === undefined) throw new KbatchError('OPTION_INVALID', `Invalid option \`input_file_id\`: ${file} was not uploaded by kbatch's Gemini adapter (its id names no model)`, { field: 'input_file_id' });
        const displayName = metadataToDisplayName(params.metadata ?? undefined);
        if (displayName.length > MAX_DISPLAY_NAME) throw new KbatchError('OPTION_INVALID', `Invalid option \`metadata\`: as a Gemini displayName it is ${displayName.length} characters, over the ${MAX_DISPLAY_NAME} kbatch sends (a shorter job id fits)`, { field: 'metadata' });
        const body = { batch: { displayName, inputConfig: { fileName: file } } };
        const op = (await geminiJson(http, { method: 'POST', path: `v1beta/models/${model}:batchGenerateContent`, json: body, ...call(options) })) as GeminiOperation;
        await assertEchoed(op, displayName, (id) => client.batches.cancel(id, options));
        return toOpenAiBatch(op);
      },
      retrieve,
      async list(query: { limit?: number; after?: string } = {}, options?: CallOptions) {
        const pageToken = query.after === undefined ? undefined : pageTokens.get(query.after);
        // A cursor this client did not hand out: no page follows it (the caller's paging stops).
        if (query.after !== undefined && pageToken === undefined) return { object: 'list', data: [], has_more: false };
        const page = (await geminiJson(http, { method: 'GET', path: 'v1beta/batches', query: { pageSize: query.limit, pageToken }, ...call(options) })) as { operations?: GeminiOperation[]; nextPageToken?: string };
        // Gemini does not document its listing order: without created_at, a search by time (adoption) never stops early on it.
        const data = (page.operations ?? []).map((op): Record<string, unknown> => ({ ...toOpenAiBatch(op), created_at: null }));
        const last = data.at(-1)?.['id'] as string | undefined;
        if (page.nextPageToken && last !== undefined) pageTokens.set(last, page.nextPageToken);
        return { object: 'list', data, first_id: data[0]?.['id'] ?? null, last_id: last ?? null, has_more: Boolean(page.nextPageToken) && last !== undefined };
      },
      async cancel(id: string, options?: CallOptions) {
        await (await geminiRequest(http, { method: 'POST', path: `v1beta/${batchName(id)}:cancel`, json: {}, ...call(options) })).body.dump();
        return retrieve(id, options);
      },
    },
    files: {
      content: (id: string, options?: CallOptions) => responsesContent(http, id, options),
      /** kbatch's uploads only (the query's purpose is implied), ids as recorded: see {@link listGeminiUploads}. */
      list: (_query?: unknown, options?: CallOptions) => listGeminiUploads(http, { signal: options?.signal }),
      async delete(id: string, options?: CallOptions) {
        const { file } = splitInputId(id);
        await (await geminiRequest(http, { method: 'DELETE', path: `v1beta/${file}`, ...call(options) })).body.dump();
        return { id, object: 'file', deleted: true };
      },
    },
    chat: { completions: { create: (body: Record<string, unknown>, options?: CallOptions) => chat(http, body, options) } },
    models: { list: (options?: CallOptions) => listModels(http, options) },
  };
  return client as unknown as OpenAI;
}

/**
 * Adoption after a crash finds a batch by its displayName: one the server did not keep as sent (cut, rewritten)
 * could never be found again, and a resume would pay for the chunk twice. Such a batch is cancelled (nothing has run
 * yet) and the create stops with RESPONSE_INVALID.
 */
async function assertEchoed(op: GeminiOperation, sent: string, cancel: (id: string) => Promise<unknown>): Promise<void> {
  const echoed = op.metadata?.displayName;
  if (echoed === sent) return;
  const id = op.name ?? op.metadata?.name;
  const cancelled = id === undefined ? 'no batch name came back to cancel' : await cancel(id).then(() => `batch ${id} was cancelled`, (error: unknown) => `cancelling batch ${id} failed (${(error as Error).message}): cancel it by hand`);
  throw new KbatchError('RESPONSE_INVALID', `Gemini kept the batch displayName as ${JSON.stringify(echoed ?? null)}, not ${JSON.stringify(sent)} as sent: kbatch could not find this batch again after a crash, so it stops; ${cancelled}`, { ...(id === undefined ? {} : { batchId: id }) });
}

// The models the key may use (`models/gemini-…` → `gemini-…`), page by page (pageToken).
async function* listModels(http: GeminiHttp, options: CallOptions | undefined): AsyncGenerator<Record<string, unknown>> {
  let pageToken: string | undefined;
  do {
    const page = (await geminiJson(http, { method: 'GET', path: 'v1beta/models', query: { pageSize: 1000, pageToken }, ...options })) as { models?: Array<{ name?: string; displayName?: string }>; nextPageToken?: string };
    for (const model of page.models ?? []) yield { id: (model.name ?? '').replace(/^models\//, ''), object: 'model', created: 0, owned_by: 'google', display_name: model.displayName ?? null };
    pageToken = page.nextPageToken;
  } while (pageToken);
}

// generateContent, mapped both ways; `stream: true` gets the whole answer as one chunk (kbatch chat prints it as it comes).
async function chat(http: GeminiHttp, body: Record<string, unknown>, options: CallOptions | undefined): Promise<unknown> {
  const { stream, stream_options: _streamOptions, ...rest } = body;
  const { model, request } = toGenerateContent(rest);
  const target = options?.timeout === undefined ? http : { ...http, timeout: options.timeout };
  const response = (await geminiJson(target, { method: 'POST', path: `v1beta/models/${model}:generateContent`, json: request, signal: options?.signal, maxRetries: options?.maxRetries })) as GenerateContentResponse;
  const completion = toChatCompletion(response, model);
  if (stream !== true) return completion;
  const choice = (completion['choices'] as Array<{ message: { content: string | null }; finish_reason: string }>)[0]!;
  return (async function* () {
    yield { id: completion['id'], object: 'chat.completion.chunk', created: completion['created'], model: completion['model'], choices: [{ index: 0, delta: { role: 'assistant', content: choice.message.content ?? '' }, finish_reason: choice.finish_reason }] };
  })();
}

/**
 * A responses file (or its error view, see ERRORS_VIEW) as a Response whose body streams kbatch batch result lines,
 * converted line by line as they arrive (never the whole file in memory).
 */
async function responsesContent(http: GeminiHttp, id: string, options: CallOptions | undefined): Promise<Response> {
  const errors = id.endsWith(ERRORS_VIEW);
  const file = errors ? id.slice(0, -ERRORS_VIEW.length) : id;
  const res = await geminiRequest(http, { method: 'GET', path: `download/v1beta/${file}:download`, query: { alt: 'media' }, signal: options?.signal, maxRetries: options?.maxRetries });
  const converted = res.body.pipe(resultLines(!errors));
  res.body.on('error', (error) => converted.destroy(error));
  return new Response(Readable.toWeb(converted) as ReadableStream, { status: 200, headers: { 'content-type': 'application/jsonl' } });
}

// Gemini response lines → kbatch result lines, keeping successes (`ok`) or failures.
function resultLines(ok: boolean): Transform {
  const splitter = new LineSplitter();
  const convert = (lines: Buffer[], push: (s: string) => void): void => {
    for (const raw of lines) {
      const text = raw.toString('utf8');
      if (text.trim() === '') continue;
      let line: ReturnType<typeof fromGeminiLine>;
      try {
        line = fromGeminiLine(text);
      } catch (cause) {
        throw new KbatchError('RESPONSE_INVALID', `A line of a Gemini responses file is not JSON: ${text.slice(0, 200)}`, { cause });
      }
      if (line !== null && line.ok === ok) push(`${line.line}\n`);
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        convert(splitter.push(chunk), (s) => this.push(s));
        cb();
      } catch (error) {
        cb(error as Error);
      }
    },
    flush(cb) {
      try {
        convert(splitter.end(), (s) => this.push(s));
        cb();
      } catch (error) {
        cb(error as Error);
      }
    },
  });
}
