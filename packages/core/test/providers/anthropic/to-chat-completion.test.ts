import { describe, expect, it } from 'vitest';
import { finishReason, statusOfErrorType, toChatCompletion } from '../../../src/providers/anthropic/to-chat-completion.js';

describe('toChatCompletion', () => {
  it('keeps the text of text blocks only (thinking left out) and maps usage to prompt/completion/total tokens', () => {
    const completion = toChatCompletion({ id: 'msg_1', model: 'claude-x', content: [{ type: 'thinking' }, { type: 'text', text: 'pos' }, { type: 'text', text: 'itive' }], stop_reason: 'end_turn', usage: { input_tokens: 10, output_tokens: 2 } }, 100);
    expect(completion).toEqual({
      id: 'msg_1',
      object: 'chat.completion',
      created: 100,
      model: 'claude-x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'positive', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
    });
  });

  it('maps every stop_reason to the one finish_reason vocabulary', () => {
    const reasons = ['end_turn', 'stop_sequence', 'max_tokens', 'model_context_window_exceeded', 'tool_use', 'refusal', 'pause_turn', 'something_new'];
    expect(reasons.map(finishReason)).toEqual(['stop', 'stop', 'length', 'length', 'tool_calls', 'content_filter', 'other', 'other']);
  });

  it('gives each Anthropic error type its HTTP status (overloaded is 529: retried)', () => {
    expect(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'rate_limit_error', 'api_error', 'overloaded_error', undefined].map(statusOfErrorType)).toEqual([400, 401, 403, 404, 429, 500, 529, 500]);
  });
});
