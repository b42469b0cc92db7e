/** One `logprobsResult` candidate of a Gemini response. */
interface GeminiLogprobCandidate {
  token?: string;
  logProbability?: number;
}

/** The part of a GenerateContentResponse kbatch reads. */
export interface GenerateContentResponse {
  candidates?: Array<{
    content?: { parts?: Array<{ text?: string; thought?: boolean }>; role?: string };
    finishReason?: string;
    index?: number;
    logprobsResult?: { chosenCandidates?: GeminiLogprobCandidate[]; topCandidates?: Array<{ candidates?: GeminiLogprobCandidate[] }> };
  }>;
  promptFeedback?: { blockReason?: string };
  usageMetadata?: { promptTokenCount?: number; candidatesTokenCount?: number; totalTokenCount?: number; thoughtsTokenCount?: number; cachedContentTokenCount?: number };
  modelVersion?: string;
  responseId?: string;
  createTime?: string;
}

// Gemini's finishReason in OpenAI's vocabulary (stop, length, content_filter); anything else → other.
const FINISH_REASONS: Readonly<Record<string, string>> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
  IMAGE_PROHIBITED_CONTENT: 'content_filter',
  MALFORMED_FUNCTION_CALL: 'other',
  UNEXPECTED_TOOL_CALL: 'other',
  TOO_MANY_TOOL_CALLS: 'other',
  LANGUAGE: 'other',
  OTHER: 'other',
};

/** A Gemini finishReason in OpenAI's vocabulary: STOP→stop, MAX_TOKENS→length, safety and recitation blocks→content_filter, others→other. */
export function finishReason(reason: string | undefined, blocked: boolean): string {
  if (reason === undefined || reason === 'FINISH_REASON_UNSPECIFIED') return blocked ? 'content_filter' : 'stop';
  return FINISH_REASONS[reason] ?? 'other';
}

/**
 * A GenerateContentResponse as an OpenAI `chat.completion`: the first candidate's text (thought parts left out),
 * its finish reason mapped, usage from usageMetadata (thinking tokens count as completion tokens, as billed), and
 * logprobs as `choices[0].logprobs.content[]` with `top_logprobs`, so kbatch's `confidence` reads them as OpenAI's.
 * A prompt blocked outright (no candidate) gives content null and finish_reason content_filter.
 * @param model - the model the request named (used when the response has no modelVersion)
 */
export function toChatCompletion(response: GenerateContentResponse, model: string): Record<string, unknown> {
  const candidate = response.candidates?.[0];
  const parts = candidate?.content?.parts ?? [];
  const text = parts.filter((p) => p.thought !== true && typeof p.text === 'string').map((p) => p.text).join('');
  const logprobs = candidate?.logprobsResult ? openAiLogprobs(candidate.logprobsResult) : null;
  const usage = response.usageMetadata ?? {};
  const prompt = usage.promptTokenCount ?? 0;
  const thoughts = usage.thoughtsTokenCount ?? 0;
  const completion = (usage.candidatesTokenCount ?? 0) + thoughts;
  const created = response.createTime ? Math.floor(Date.parse(response.createTime) / 1000) : Math.floor(Date.now() / 1000);
  return {
    id: response.responseId ?? 'gemini-response',
    object: 'chat.completion',
    created: Number.isFinite(created) ? created : 0,
    model: response.modelVersion ?? model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: candidate ? text : null },
        finish_reason: finishReason(candidate?.finishReason, !candidate || response.promptFeedback?.blockReason !== undefined),
        logprobs,
      },
    ],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: usage.totalTokenCount ?? prompt + completion,
      ...(thoughts > 0 ? { completion_tokens_details: { reasoning_tokens: thoughts } } : {}),
      ...(usage.cachedContentTokenCount ? { prompt_tokens_details: { cached_tokens: usage.cachedContentTokenCount } } : {}),
    },
  };
}

// chosenCandidates[i] is the token at step i; topCandidates[i].candidates its alternatives (the chosen one among them).
function openAiLogprobs(result: NonNullable<NonNullable<GenerateContentResponse['candidates']>[number]['logprobsResult']>): { content: unknown[] } {
  const chosen = result.chosenCandidates ?? [];
  return {
    content: chosen.map((c, i) => ({
      token: c.token ?? '',
      logprob: c.logProbability ?? 0,
      top_logprobs: (result.topCandidates?.[i]?.candidates ?? []).map((t) => ({ token: t.token ?? '', logprob: t.logProbability ?? 0 })),
    })),
  };
}
