// Anthropic's wire shapes for the emulator's `anthropic` personality: params ↔ the chat bodies its executor runs,
// completions → Messages, its error body. Pure.
import { HttpError, badRequest } from '../errors.js';
import type { ChatRequestBody } from '../options.js';

/** The API version the personality speaks; it refuses temperature/top_p/top_k, as Anthropic's 2026-10-21 does. */
export const ANTHROPIC_VERSION = '2026-10-21';
/** Parameters removed in 2026-10-21 (a 400 "Extra inputs are not permitted", even at default values). */
export const REMOVED_PARAMS = ['temperature', 'top_p', 'top_k'] as const;
/** Custom ids Anthropic takes. */
export const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** True when the request's `anthropic-version` is 2026-10-21 or later (no header: the SDK 1.x default). */
export const removesSampling = (version: string | undefined): boolean => (version ?? ANTHROPIC_VERSION) >= ANTHROPIC_VERSION;

type Params = Record<string, unknown>;

/** Why Messages params are invalid (`where` prefixes the path, e.g. `requests.3.params.`), or undefined. */
export function paramsError(params: unknown, where: string, inBatch: boolean, version: string | undefined): HttpError | undefined {
  if (!params || typeof params !== 'object' || Array.isArray(params)) return badRequest(`${where}params: Input should be an object`);
  const p = params as Params;
  if (typeof p['model'] !== 'string' || !p['model']) return badRequest(`${where}model: Field required`);
  if (!/^claude-/.test(p['model'])) return new HttpError(404, `model: ${p['model']}`, 'not_found_error');
  if (!Number.isInteger(p['max_tokens']) || (p['max_tokens'] as number) < 1) return badRequest(`${where}max_tokens: Field required (an integer >= 1)`);
  if (!Array.isArray(p['messages']) || p['messages'].length === 0) return badRequest(`${where}messages: Field required (a non-empty list)`);
  if (inBatch && (p['stream'] === true || p['speed'] !== undefined)) return badRequest(`${where}${p['stream'] === true ? 'stream' : 'speed'}: not supported in a batch`);
  // In a batch, refused parameters are found per request after the create (errored results), not as a 400.
  if (!inBatch && removesSampling(version)) {
    const removed = REMOVED_PARAMS.find((k) => p[k] !== undefined);
    if (removed) return badRequest(`${where}${removed}: Extra inputs are not permitted`);
  }
  return undefined;
}

/** The chat body the executor runs for Messages params: system first, max_tokens → max_completion_tokens, stop_sequences → stop. */
export function toChatBody(params: Params): ChatRequestBody {
  const messages: ChatRequestBody['messages'] = [];
  const system = params['system'];
  if (system !== undefined) messages.push({ role: 'system', content: typeof system === 'string' ? system : textOf(system) });
  for (const m of params['messages'] as Array<{ role: string; content: unknown }>) messages.push({ role: m.role, content: typeof m.content === 'string' ? m.content : textOf(m.content) });
  const body: ChatRequestBody = { model: params['model'] as string, messages, max_completion_tokens: params['max_tokens'] as number };
  if (Array.isArray(params['stop_sequences'])) body.stop = params['stop_sequences'] as string[];
  const format = (params['output_config'] as { format?: { type?: string; schema?: unknown } } | undefined)?.format;
  if (format?.type === 'json_schema') body['response_format'] = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } };
  return body;
}

const textOf = (blocks: unknown): string =>
  Array.isArray(blocks) ? blocks.map((b: { type?: string; text?: unknown }) => (b?.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('') : '';

/** An executor's chat.completion as an Anthropic Message. */
export function toMessage(completion: unknown, tier: 'batch' | 'standard' = 'batch'): Record<string, unknown> {
  const c = completion as { id?: string; model?: string; choices?: Array<{ message?: { content?: unknown }; finish_reason?: string; stop_reason?: unknown }>; usage?: { prompt_tokens?: number; completion_tokens?: number } };
  const choice = c.choices?.[0];
  const stop = typeof choice?.stop_reason === 'string' ? choice.stop_reason : null;
  const reason = choice?.finish_reason === 'length' ? 'max_tokens' : choice?.finish_reason === 'content_filter' ? 'refusal' : choice?.finish_reason === 'tool_calls' ? 'tool_use' : stop ? 'stop_sequence' : 'end_turn';
  return {
    id: `msg_${String(c.id ?? '').replace(/^chatcmpl-/, '').replace(/-/g, '')}`,
    type: 'message',
    role: 'assistant',
    model: c.model,
    content: [{ type: 'text', text: typeof choice?.message?.content === 'string' ? choice.message.content : '', citations: null }],
    stop_reason: reason,
    stop_sequence: reason === 'stop_sequence' ? stop : null,
    stop_details: null,
    container: null,
    usage: { input_tokens: c.usage?.prompt_tokens ?? 0, output_tokens: c.usage?.completion_tokens ?? 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: tier },
  };
}

/** Anthropic's error type for an HTTP status. */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** The Anthropic error body `{type: 'error', error: {type, message}, request_id}`. */
export const errorBody = (status: number, message: string, requestId: string | null = null) => ({ type: 'error', error: { type: errorType(status), message }, request_id: requestId });
