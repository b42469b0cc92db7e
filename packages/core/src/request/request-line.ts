/** A chat message of the request body. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The chat-completion body of one batch request: model, messages and only the parameters the user gave. */
export interface ChatRequestBody {
  model: string;
  messages: ChatMessage[];
  frequency_penalty?: number;
  presence_penalty?: number;
  logit_bias?: Record<string, number>;
  logprobs?: boolean;
  top_logprobs?: number;
  max_completion_tokens?: number;
  seed?: number;
  stop?: string | string[];
  temperature?: number;
  top_p?: number;
}

/** One line of a batch input file (the reference's "request input object"). */
export interface BatchRequestLine {
  custom_id: string;
  method: 'POST';
  url: '/v1/chat/completions';
  body: ChatRequestBody;
}
