// An OpenAI chat body (what kbatch's request lines carry) → Anthropic Messages params (API version 2026-10-21).
import { KbatchError } from '../../errors.js';

/** The Anthropic API version kbatch speaks (what @anthropic-ai/sdk 1.x sends). */
export const ANTHROPIC_API_VERSION = '2026-10-21';

/** `max_tokens` sent when the body sets neither `max_completion_tokens` nor `max_tokens` (Anthropic requires one). */
export const DEFAULT_MAX_TOKENS = 4096;

/**
 * Chat parameters Anthropic does not take, each with why: refused before anything is sent, naming the parameter.
 * (null, false — e.g. `logprobs: false`, `stream: false` — and `n: 1` change nothing and pass.)
 */
export const UNSUPPORTED_PARAMS: Readonly<Record<string, string>> = {
  temperature: `removed in API version ${ANTHROPIC_API_VERSION}`,
  top_p: `removed in API version ${ANTHROPIC_API_VERSION}`,
  top_k: `removed in API version ${ANTHROPIC_API_VERSION}`,
  logprobs: 'the Messages API returns no logprobs (no confidence column)',
  top_logprobs: 'the Messages API returns no logprobs (no confidence column)',
  frequency_penalty: 'not a Messages API parameter',
  presence_penalty: 'not a Messages API parameter',
  logit_bias: 'not a Messages API parameter',
  seed: 'not a Messages API parameter',
  n: 'one answer per request only',
  stream: 'batch and kbatch requests do not stream',
};

/**
 * The refused parameters lint names by key (the profile's `chatParams.unsupported`): lint refuses any value but null
 * and false, as the mapping does for these. `n` is left out: the mapping refuses it only above 1 (`n: 1` passes), which
 * a name list cannot say, so the adapter's own check ({@link NATIVE_REQUEST_CHECKS}) refuses `n: 2`.
 */
export const LISTED_UNSUPPORTED_PARAMS: readonly string[] = Object.keys(UNSUPPORTED_PARAMS).filter((param) => param !== 'n');

/** The Messages params kbatch sends (a subset of the SDK's `MessageCreateParamsNonStreaming`). */
export interface MessagesParams {
  model: string;
  max_tokens: number;
  messages: Array<{ role: 'user' | 'assistant'; content: string | Array<{ type: 'text'; text: string }> }>;
  system?: string;
  stop_sequences?: string[];
  output_config?: { format: { type: 'json_schema'; schema: Record<string, unknown> } };
}

const unsupported = (param: string, why: string): KbatchError =>
  new KbatchError('PARAM_UNSUPPORTED', `Parameter \`${param}\` is not supported by provider anthropic (${why}); nothing was sent`, { field: param });

/**
 * True when a body field's value changes nothing on Anthropic (so it need not be refused, and is not sent): null or
 * false (as lint's refused list reads them), and `n: 1`.
 */
const harmless = (key: string, value: unknown): boolean => value === null || value === undefined || value === false || (key === 'n' && value === 1);

/** The first parameter of `body` Anthropic refuses, with why (null when none): what lint reports per line. */
export function unsupportedParam(body: Record<string, unknown>): { param: string; why: string } | null {
  for (const [key, value] of Object.entries(body)) {
    if (harmless(key, value)) continue;
    const why = UNSUPPORTED_PARAMS[key] ?? (KNOWN.has(key) ? undefined : 'not a parameter kbatch maps to the Messages API');
    if (why !== undefined) return { param: key, why };
  }
  return null;
}

const KNOWN = new Set(['model', 'messages', 'max_tokens', 'max_completion_tokens', 'stop', 'response_format']);

/**
 * Map one OpenAI chat body to Messages params (pure): leading system/developer messages → `system`; `max_tokens`
 * from `max_completion_tokens`/`max_tokens`, else {@link DEFAULT_MAX_TOKENS}; `stop` → `stop_sequences`;
 * `response_format` json_schema → `output_config.format`.
 * @throws KbatchError PARAM_UNSUPPORTED naming the first parameter (or message shape) Anthropic does not take
 * @example toMessagesParams({ model: 'claude-haiku-5-5', messages: [{ role: 'user', content: 'hi' }] })
 */
export function toMessagesParams(body: Record<string, unknown>, defaultMaxTokens = DEFAULT_MAX_TOKENS): MessagesParams {
  const bad = unsupportedParam(body);
  if (bad) throw unsupported(bad.param, bad.why);
  if (typeof body['model'] !== 'string' || body['model'] === '') throw new KbatchError('LINE_INVALID', 'The request body has no model', { field: 'model' });
  const { system, messages } = splitMessages(body['messages']);
  const maxTokens = body['max_completion_tokens'] ?? body['max_tokens'] ?? defaultMaxTokens;
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) throw new KbatchError('LINE_INVALID', 'max_tokens must be a positive integer', { field: 'max_tokens' });
  const params: MessagesParams = { model: body['model'], max_tokens: maxTokens as number, messages };
  if (system !== undefined) params.system = system;
  const stop = body['stop'];
  if (stop !== undefined && stop !== null) params.stop_sequences = typeof stop === 'string' ? [stop] : (stop as string[]);
  const format = outputFormat(body['response_format']);
  if (format) params.output_config = { format };
  return params;
}

/** Leading system/developer messages become `system` (joined by a blank line); the rest must be user/assistant. */
function splitMessages(value: unknown): Pick<MessagesParams, 'messages' | 'system'> {
  if (!Array.isArray(value) || value.length === 0) throw new KbatchError('LINE_INVALID', 'messages must be a non-empty array', { field: 'messages' });
  const system: string[] = [];
  const messages: MessagesParams['messages'] = [];
  for (const [i, m] of (value as Array<{ role?: unknown; content?: unknown }>).entries()) {
    const role = m?.role;
    if ((role === 'system' || role === 'developer') && messages.length === 0) system.push(textOf(m.content, i));
    else if (role === 'user' || role === 'assistant') messages.push({ role, content: contentOf(m.content, i) });
    else throw unsupported(`messages[${i}].role`, `a ${String(role)} message${role === 'system' ? ' after the conversation started' : ''} has no Messages API equivalent`);
  }
  if (messages.length === 0) throw unsupported('messages', 'a request needs a user message besides the system prompt');
  return system.length > 0 ? { system: system.join('\n\n'), messages } : { messages };
}

/** Message content: a string, or text parts (images and other parts are refused, naming the message). */
function contentOf(content: unknown, i: number): MessagesParams['messages'][number]['content'] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw unsupported(`messages[${i}].content`, 'content must be a string or text parts');
  return content.map((part: { type?: unknown; text?: unknown }) => {
    if (part?.type !== 'text' || typeof part.text !== 'string') throw unsupported(`messages[${i}].content`, `a ${String(part?.type)} part is not mapped (text only)`);
    return { type: 'text' as const, text: part.text };
  });
}

const textOf = (content: unknown, i: number): string => {
  const c = contentOf(content, i);
  return typeof c === 'string' ? c : c.map((p) => p.text).join('');
};

/** `response_format` → `output_config.format` (json_schema only; json_object has no Anthropic equivalent). */
function outputFormat(value: unknown): { type: 'json_schema'; schema: Record<string, unknown> } | undefined {
  if (value === undefined || value === null) return undefined;
  const format = value as { type?: unknown; json_schema?: { schema?: unknown } };
  if (format.type === 'text') return undefined;
  if (format.type === 'json_schema' && typeof format.json_schema?.schema === 'object' && format.json_schema.schema !== null) {
    return { type: 'json_schema', schema: format.json_schema.schema as Record<string, unknown> };
  }
  throw unsupported('response_format', `type ${String(format.type)} has no Messages API equivalent (json_schema maps to output_config.format)`);
}
