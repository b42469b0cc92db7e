import type OpenAI from 'openai';
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { CHAT_PARAM_FIELDS, ChatParamsSchema } from '../request/request-options.js';
import type { ChatMessage } from '../request/request-line.js';
import type { RealtimeClient } from './run-realtime.js';
import { withRequestSignalEach } from '../internal/request-signal.js';

/** Options of `streamChat`: the chat parameters of the request options, plus model, question and client. */
export const StreamChatOptionsSchema = ChatParamsSchema.omit({ stream: true }).extend({
  client: z.custom<RealtimeClient>((v) => typeof (v as { create?: unknown } | null)?.create === 'function', {
    error: 'must be an object with a create() method, e.g. openai.chat.completions',
  }),
  model: z.string({ error: 'must be a model name' }).min(1, { error: 'must be a non-empty model name' }),
  question: z.string({ error: 'must be a string' }).min(1, { error: 'must be a non-empty question' }),
  system: z.string({ error: 'must be a string' }).min(1, { error: 'must be a non-empty system prompt' }).optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'must be an AbortSignal' }).optional(),
});
/** Options of `streamChat` as given. */
export type StreamChatOptions = z.input<typeof StreamChatOptionsSchema>;

/**
 * Ask one question with `stream: true` and yield the answer's text as it arrives, for quick checks
 * of a model or a prompt (`kbatch chat`). Request retries are the SDK's (nothing has streamed yet
 * when it retries).
 * @example
 * for await (const text of streamChat({ client: openai.chat.completions, model, question: 'Hi?' })) process.stdout.write(text);
 */
export async function* streamChat(options: StreamChatOptions): AsyncGenerator<string, void, undefined> {
  const o = parseOptions(StreamChatOptionsSchema, options, 'streamChat');
  const messages: ChatMessage[] = [];
  if (o.system !== undefined) messages.push({ role: 'system', content: o.system });
  messages.push({ role: 'user', content: o.question });
  const body: Record<string, unknown> = { model: o.model, messages };
  for (const [option, field] of CHAT_PARAM_FIELDS) {
    if (o[option] !== undefined) body[field] = o[option];
  }
  const params = { ...body, stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming;
  // A child of the caller's signal, linked while the answer streams: the SDK's listener never lands on the caller's.
  for await (const chunk of withRequestSignalEach(o.signal, (signal) => o.client.create(params, signal ? { signal } : {}))) {
    const text = chunk.choices[0]?.delta?.content;
    if (text) yield text;
  }
}
