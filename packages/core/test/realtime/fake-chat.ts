import { APIConnectionError, APIError } from 'openai';
import type { BatchRequestLine } from '../../src/request/request-line.js';
import type { RealtimeClient } from '../../src/realtime/run-realtime.js';

/** A request line asking `question`. */
export const requestLine = (id: string | number, question = `q${id}`): BatchRequestLine => ({
  custom_id: String(id),
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'm', messages: [{ role: 'user', content: question }] },
});

export const completion = (content: string) => ({
  id: `chatcmpl-${content}`,
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

export const httpError = (status: number, headers: Record<string, string> = {}) =>
  APIError.generate(status, { error: { message: `status ${status}`, type: 'x' } }, `status ${status}`, new Headers(headers));
export const dropped = () => new APIConnectionError({ message: 'socket hang up' });

/**
 * A fake `chat.completions` that records calls and in-flight peaks. `behave(content, call)` may
 * return a delay in ms, or throw to fail that attempt.
 */
export function fakeChat(behave: (question: string, call: number) => number | void = () => 0) {
  const state = { calls: 0, inFlight: 0, maxInFlight: 0, questions: [] as string[], options: [] as unknown[] };
  const client = {
    async create(body: { messages: { content: string }[] }, options: { signal?: AbortSignal }) {
      const question = body.messages.at(-1)!.content;
      state.calls++;
      state.questions.push(question);
      state.options.push(options);
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      try {
        const delay = behave(question, state.calls) ?? 0;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, delay);
          options.signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(new Error('aborted'));
          });
        });
        return completion(`a:${question}`);
      } finally {
        state.inFlight--;
      }
    },
  };
  return { client: client as unknown as RealtimeClient, state };
}
