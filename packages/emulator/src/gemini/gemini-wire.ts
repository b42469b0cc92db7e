// The Gemini wire formats the personality speaks, mapped onto the emulator's own (OpenAI-shaped) ones.
import type { ServerResponse } from 'node:http';
import { HttpError } from '../errors.js';
import { REFERENCE_MODELS } from '../models.js';
import type { ChatRequestBody } from '../options.js';
import { contentText } from '../responder.js';
import type { BatchObject, Stored } from '../store.js';

/** The model the built-in responder answers Gemini requests as (it checks models against kluster's list). */
export const EXECUTOR_MODEL: string = REFERENCE_MODELS[1].id;

/** The models `GET /v1beta/models` lists (any other `gemini-*` name is accepted too). */
export const GEMINI_MODELS = ['gemini-2.5-flash', 'gemini-2.5-flash-lite', 'gemini-2.5-pro'] as const;

/** Models the personality knows: any `gemini-*` (an unknown one is a 404, as on the real API). */
export const isGeminiModel = (model: string): boolean => /^gemini-[\w.-]+$/.test(model);

// Google's status names of the HTTP statuses the emulator sends.
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** The Google status name of an HTTP status. */
export const statusName = (status: number): string => STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');

// google.rpc.Code numbers of the names above (code.proto).
const RPC_CODES: Readonly<Record<string, number>> = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
};

/**
 * An HTTP status as the google.rpc.Status a batch line or a failed Operation carries: an rpc `code` (3, not 400) and
 * a message, no status name (as the Batch API writes them).
 */
export const rpcStatusOf = (status: number, message: string): { code: number; message: string } => ({ code: RPC_CODES[statusName(status)] ?? 13, message });

/** A time in seconds as Google's RFC 3339 timestamp. */
export function isoTime(seconds: number): string;
export function isoTime(seconds: number | null): string | undefined;
export function isoTime(seconds: number | null): string | undefined {
  return seconds === null ? undefined : new Date(seconds * 1000).toISOString();
}

/** A Google error: `{error: {code, message, status}}` (the headers of the error, e.g. Retry-After, kept). */
export function sendGoogleError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ error: { code: err.status, message: err.message, status: statusName(err.status) } });
  res.writeHead(err.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...err.headers });
  res.end(text);
}

/** A Google error to throw from a route. */
export const googleError = (status: number, message: string): HttpError => new HttpError(status, message);

/**
 * One page of a Google list (`pageSize` 1–`max`, `pageToken` = the last id of the page before): the records, and the
 * token of the next page when there is one.
 * @throws HttpError 400 for a pageSize out of range or a token naming no record
 */
export function googlePage<T extends Stored<{ id: string }>>(all: readonly T[], query: URLSearchParams, { size: fallback, max }: { size: number; max: number }): { page: T[]; nextPageToken?: string } {
  const size = Number(query.get('pageSize') ?? fallback);
  if (!Number.isInteger(size) || size < 1 || size > max) throw googleError(400, `pageSize must be between 1 and ${max}`);
  const token = query.get('pageToken');
  const start = token ? all.findIndex((r) => r.value.id === token) + 1 : 0;
  if (token && start === 0) throw googleError(400, 'Invalid page token');
  const page = all.slice(start, start + size);
  return start + size < all.length ? { page, nextPageToken: page.at(-1)!.value.id } : { page };
}

interface GeminiPart {
  text?: unknown;
}
interface GeminiRequest {
  contents?: Array<{ role?: unknown; parts?: GeminiPart[] }>;
  systemInstruction?: { parts?: GeminiPart[] };
  generationConfig?: Record<string, unknown>;
}

const partsText = (parts: GeminiPart[] | undefined): string => contentText(parts ?? []);

/** A generateContent request as the chat body the executor runs (system instruction, user/model turns, generationConfig). */
export function chatBodyOf(request: GeminiRequest): ChatRequestBody {
  if (!request || typeof request !== 'object' || !Array.isArray(request.contents) || request.contents.length === 0) {
    throw googleError(400, '* GenerateContentRequest.contents: contents is not specified');
  }
  const messages: ChatRequestBody['messages'] = [];
  if (request.systemInstruction) messages.push({ role: 'system', content: partsText(request.systemInstruction.parts) });
  for (const c of request.contents) messages.push({ role: c.role === 'model' ? 'assistant' : 'user', content: partsText(c.parts) });
  const g = request.generationConfig ?? {};
  const body: ChatRequestBody = { model: EXECUTOR_MODEL, messages };
  const copy: Array<[string, string]> = [['temperature', 'temperature'], ['topP', 'top_p'], ['maxOutputTokens', 'max_completion_tokens'], ['stopSequences', 'stop'], ['seed', 'seed'], ['logprobs', 'top_logprobs']];
  for (const [from, to] of copy) if (g[from] !== undefined) body[to] = g[from];
  if (g['responseLogprobs'] === true) body.logprobs = true;
  else if (g['logprobs'] !== undefined) throw googleError(400, 'logprobs is only valid when responseLogprobs is true');
  return body;
}

interface ChatCompletion {
  id?: string;
  created?: number;
  choices?: Array<{ message?: { content?: unknown }; finish_reason?: unknown; logprobs?: { content?: Array<{ token: string; logprob: number; top_logprobs?: Array<{ token: string; logprob: number }> }> } | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
}

/** A chat.completion as a GenerateContentResponse (text part, finishReason, logprobsResult, usageMetadata). */
export function generateContentResponseOf(completion: ChatCompletion, model: string): Record<string, unknown> {
  const choice = completion.choices?.[0];
  const tokens = choice?.logprobs?.content ?? null;
  const candidate: Record<string, unknown> = {
    content: { parts: [{ text: typeof choice?.message?.content === 'string' ? choice.message.content : '' }], role: 'model' },
    finishReason: choice?.finish_reason === 'length' ? 'MAX_TOKENS' : 'STOP',
    index: 0,
  };
  if (tokens) {
    candidate['logprobsResult'] = {
      topCandidates: tokens.map((t) => ({ candidates: (t.top_logprobs ?? []).map((c) => ({ token: c.token, logProbability: c.logprob })) })),
      chosenCandidates: tokens.map((t) => ({ token: t.token, logProbability: t.logprob })),
      logProbabilitySum: tokens.reduce((sum, t) => sum + t.logprob, 0),
    };
    candidate['avgLogprobs'] = tokens.length ? (candidate['logprobsResult'] as { logProbabilitySum: number }).logProbabilitySum / tokens.length : 0;
  }
  const usage = completion.usage ?? {};
  return {
    candidates: [candidate],
    usageMetadata: { promptTokenCount: usage.prompt_tokens ?? 0, candidatesTokenCount: usage.completion_tokens ?? 0, totalTokenCount: usage.total_tokens ?? 0 },
    modelVersion: model,
    responseId: completion.id ?? 'emulated',
  };
}

/**
 * One line of the emulator's output or error file as a line of a Gemini responses file (`{key, response}` or
 * `{key, error}`); a never-run marker (an expired or cancelled request) gives null: Gemini lists only requests that ran.
 */
export function responsesLineOf(text: string, model: string): string | null {
  const line = JSON.parse(text) as { custom_id: string; response?: { status_code: number; body: unknown } | null };
  if (!line.response) return null;
  const { status_code: status, body } = line.response;
  if (status >= 200 && status < 300) return JSON.stringify({ key: line.custom_id, response: generateContentResponseOf(body as ChatCompletion, model) });
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return JSON.stringify({ key: line.custom_id, error: rpcStatusOf(status, typeof message === 'string' ? message : `HTTP ${status}`) });
}

// The emulator's batch statuses as Gemini's wire states (cancelling is still running on Gemini).
const STATES: Readonly<Record<BatchObject['status'], string>> = {
  validating: 'BATCH_STATE_PENDING',
  in_progress: 'BATCH_STATE_RUNNING',
  finalizing: 'BATCH_STATE_RUNNING',
  cancelling: 'BATCH_STATE_RUNNING',
  completed: 'BATCH_STATE_SUCCEEDED',
  failed: 'BATCH_STATE_FAILED',
  cancelled: 'BATCH_STATE_CANCELLED',
  expired: 'BATCH_STATE_EXPIRED',
};

/** The name of a batch's responses file (served from its output and error files). */
export const responsesFileOf = (batchId: string): string => `files/responses-${batchId}`;

/** What the personality keeps of a Gemini batch in the emulator batch's metadata. */
export interface GeminiBatchMeta {
  gemini_display_name: string;
  gemini_model: string;
  gemini_input: string;
}

/** An emulator batch as a Gemini batch Operation (BATCH_STATE_* on the wire, batchStats counts as int64 strings). */
export function operationOf(rec: Stored<BatchObject>): Record<string, unknown> {
  const b = rec.value;
  const meta = b.metadata as unknown as GeminiBatchMeta;
  const name = `batches/${b.id}`;
  const c = b.request_counts;
  const done = ['completed', 'failed', 'cancelled', 'expired'].includes(b.status);
  const end = b.completed_at ?? b.failed_at ?? b.cancelled_at ?? b.expired_at;
  const output = done && (b.output_file_id || b.error_file_id) ? { responsesFile: responsesFileOf(b.id) } : undefined;
  return {
    name,
    metadata: {
      '@type': 'type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch',
      name,
      displayName: meta.gemini_display_name,
      model: `models/${meta.gemini_model}`,
      // The real API echoes the batch's input (GenerateContentBatch.inputConfig): kbatch's cleanup reads it.
      inputConfig: { fileName: meta.gemini_input.startsWith('files/') ? meta.gemini_input : `files/${meta.gemini_input}` },
      state: STATES[b.status],
      createTime: isoTime(b.created_at),
      updateTime: isoTime(end ?? b.in_progress_at ?? b.created_at),
      ...(end ? { endTime: isoTime(end) } : {}),
      batchStats: { requestCount: String(c.total), successfulRequestCount: String(c.completed), failedRequestCount: String(c.failed), pendingRequestCount: String(Math.max(0, c.total - c.completed - c.failed)) },
      ...(output ? { output } : {}),
    },
    done,
    ...(output ? { response: { '@type': 'type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput', ...output } } : {}),
    ...(b.status === 'failed' ? { error: rpcStatusOf(400, b.errors?.data[0]?.message ?? 'The batch failed') } : {}),
  };
}
