// An Anthropic Message (realtime answer or a succeeded batch result) → an OpenAI chat.completion, and errors to status.

/** The parts of an Anthropic `Message` kbatch reads. */
export interface AnthropicMessage {
  id: string;
  model: string;
  content: Array<{ type: string; text?: string }>;
  stop_reason: string | null;
  usage?: { input_tokens?: number | null; output_tokens?: number | null } | null;
}

/**
 * Anthropic's stop_reason in kbatch's one finish_reason vocabulary (OpenAI's): end_turn/stop_sequence → stop,
 * max_tokens/model_context_window_exceeded → length, tool_use → tool_calls, refusal → content_filter; anything
 * else (pause_turn, a new reason) → other.
 */
export function finishReason(stopReason: string | null): string {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
    case null:
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'other';
  }
}

/**
 * The chat.completion of a Message: the text of its `text` blocks (thinking blocks left out), the mapped
 * finish_reason, and usage as prompt/completion/total tokens. No logprobs (the Messages API has none).
 * @param created - unix seconds (Messages carry no timestamp)
 */
export function toChatCompletion(message: AnthropicMessage, created = Math.floor(Date.now() / 1000)) {
  const text = message.content.flatMap((block) => (block.type === 'text' && typeof block.text === 'string' ? [block.text] : [])).join('');
  const prompt = message.usage?.input_tokens ?? 0;
  const completion = message.usage?.output_tokens ?? 0;
  return {
    id: message.id,
    object: 'chat.completion' as const,
    created,
    model: message.model,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: text, refusal: null }, logprobs: null, finish_reason: finishReason(message.stop_reason) }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** The HTTP status an Anthropic error type stands for (batch `errored` results carry only the type). */
export function statusOfErrorType(type: string | undefined): number {
  switch (type) {
    case 'invalid_request_error':
      return 400;
    case 'authentication_error':
      return 401;
    case 'billing_error':
      return 402;
    case 'permission_error':
      return 403;
    case 'not_found_error':
      return 404;
    case 'request_too_large':
      return 413;
    case 'rate_limit_error':
      return 429;
    case 'timeout_error':
      return 504;
    case 'overloaded_error':
      return 529;
    default:
      return 500;
  }
}
