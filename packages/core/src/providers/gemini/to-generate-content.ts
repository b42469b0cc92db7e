import { KbatchError } from '../../errors.js';

/** A Gemini `Content`: a role (`user` or `model`) and its text parts. */
export interface GeminiContent {
  role?: 'user' | 'model';
  parts: Array<{ text: string }>;
}

/** The generateContent request kbatch sends (realtime body, or a batch line's `request`). */
export interface GenerateContentRequest {
  contents: GeminiContent[];
  systemInstruction?: GeminiContent;
  generationConfig?: Record<string, unknown>;
}

/** The provider name errors cite (the profile's). */
const PROVIDER = 'gemini';

// Chat fields that map one-to-one onto generationConfig (OpenAI name → Gemini name).
const CONFIG_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['temperature', 'temperature'],
  ['top_p', 'topP'],
  ['top_k', 'topK'],
  ['seed', 'seed'],
  ['n', 'candidateCount'],
  ['presence_penalty', 'presencePenalty'],
  ['frequency_penalty', 'frequencyPenalty'],
];

/** Fields read elsewhere in this mapping (or no-ops): anything else in a body is a parameter Gemini does not take. */
const HANDLED = new Set(['model', 'messages', 'max_tokens', 'max_completion_tokens', 'stop', 'response_format', 'logprobs', 'top_logprobs', 'stream', ...CONFIG_FIELDS.map(([k]) => k)]);

/** The chat parameters this mapping sends on (the profile's `chatParams.supported`). */
export const GEMINI_CHAT_PARAMS: readonly string[] = [...HANDLED].filter((k) => k !== 'model' && k !== 'messages' && k !== 'stream');

/** Chat parameters of the OpenAI API Gemini's generateContent has no counterpart for (the profile's `chatParams.unsupported`). */
export const GEMINI_UNSUPPORTED_PARAMS: readonly string[] = ['logit_bias', 'tools', 'tool_choice', 'parallel_tool_calls', 'functions', 'function_call', 'reasoning_effort', 'modalities', 'audio', 'prediction', 'web_search_options', 'service_tier', 'store', 'metadata', 'user'];

/** A parameter Gemini does not take, named with the provider (nothing has been sent when this is thrown). */
export function unsupported(param: string, why = 'Gemini has no counterpart'): KbatchError {
  return new KbatchError('PARAM_UNSUPPORTED', `Parameter \`${param}\` is not supported by provider ${PROVIDER} (${why}); nothing was sent`, { field: param });
}

/**
 * An OpenAI chat body (what kbatch's request lines carry) as a generateContent request: system and developer
 * messages → `systemInstruction`, assistant → role `model`, sampling and length parameters → `generationConfig`,
 * `response_format` json_schema → `responseMimeType` + `responseJsonSchema`, logprobs → `responseLogprobs`/`logprobs`.
 * @returns the model (without a `models/` prefix) and the request
 * @throws KbatchError PARAM_UNSUPPORTED naming the first parameter (or message part) Gemini cannot take
 * @example toGenerateContent({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'Hi' }], temperature: 0 })
 */
export function toGenerateContent(body: Record<string, unknown>): { model: string; request: GenerateContentRequest } {
  for (const key of Object.keys(body)) {
    if (!HANDLED.has(key) && body[key] !== undefined && body[key] !== null) throw unsupported(key);
  }
  const model = typeof body['model'] === 'string' ? body['model'].replace(/^models\//, '') : '';
  if (model === '') throw new KbatchError('LINE_INVALID', 'The request has no model (body.model)', { field: 'model' });
  const request: GenerateContentRequest = { contents: [] };
  const system: Array<{ text: string }> = [];
  const messages = Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : [];
  messages.forEach((message, i) => {
    const { role, content } = (message ?? {}) as { role?: unknown; content?: unknown };
    const parts = textParts(content, `messages[${i}].content`);
    if (role === 'system' || role === 'developer') system.push(...parts);
    else if (role === 'user' || role === 'assistant') request.contents.push({ role: role === 'user' ? 'user' : 'model', parts });
    else throw unsupported(`messages[${i}].role`, `role ${JSON.stringify(role)} has no counterpart`);
  });
  if (system.length > 0) request.systemInstruction = { parts: system };
  const config = generationConfig(body);
  if (Object.keys(config).length > 0) request.generationConfig = config;
  return { model, request };
}

function generationConfig(body: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const [from, to] of CONFIG_FIELDS) if (body[from] != null) config[to] = body[from];
  const max = body['max_completion_tokens'] ?? body['max_tokens'];
  if (max != null) config['maxOutputTokens'] = max;
  const stop = body['stop'];
  if (stop != null) config['stopSequences'] = Array.isArray(stop) ? stop : [stop];
  if (body['logprobs'] === true) {
    config['responseLogprobs'] = true;
    if (body['top_logprobs'] != null) config['logprobs'] = body['top_logprobs'];
  } else if (body['top_logprobs'] != null) {
    throw unsupported('top_logprobs', 'only together with logprobs: true');
  }
  Object.assign(config, responseFormat(body['response_format']));
  return config;
}

function responseFormat(format: unknown): Record<string, unknown> {
  if (format == null) return {};
  const { type, json_schema: jsonSchema } = format as { type?: unknown; json_schema?: { schema?: unknown } };
  if (type === 'text') return {};
  if (type === 'json_object') return { responseMimeType: 'application/json' };
  if (type === 'json_schema' && jsonSchema && typeof jsonSchema.schema === 'object' && jsonSchema.schema !== null) {
    return { responseMimeType: 'application/json', responseJsonSchema: jsonSchema.schema };
  }
  throw unsupported('response_format', `type ${JSON.stringify(type)} without a json_schema.schema has no counterpart`);
}

// A message's content as text parts: a string, or OpenAI content parts of type text (images and audio are refused).
function textParts(content: unknown, where: string): Array<{ text: string }> {
  if (typeof content === 'string') return [{ text: content }];
  if (!Array.isArray(content)) throw unsupported(where, 'only text content is mapped');
  return content.map((part, j) => {
    const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
    if (type !== 'text' || typeof text !== 'string') throw unsupported(`${where}[${j}]`, `content part type ${JSON.stringify(type)} is not mapped (text only)`);
    return { text };
  });
}
