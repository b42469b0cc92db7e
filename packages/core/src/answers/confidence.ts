import { cleanLabelAnswer } from './labels.js';

/** One token of `choices[0].logprobs.content` (OpenAI-compatible shape). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  top_logprobs?: Array<{ token: string; logprob: number }> | null;
}

/**
 * How sure the model was of `label`, from the logprobs of the first answer token.
 *
 * Rule: skip leading tokens that hold only whitespace, quotes or markdown emphasis; at the first real
 * token, add up `exp(logprob)` over the distinct candidate tokens (the chosen one and its
 * `top_logprobs`) whose text — stripped of leading whitespace/quotes, compared ignoring case — is a
 * non-empty prefix of the label (so " Pos", "pos" and "positive" all count for "positive").
 * The sum is capped at 1. Returns null when there are no logprobs or the first token does not start
 * the label (the answer then was not a clean label, or was tokenized unexpectedly).
 * @example labelConfidence([{ token: 'pos', logprob: -0.1, top_logprobs: [...] }], 'positive') // 0.93
 */
export function labelConfidence(logprobs: readonly TokenLogprob[] | null | undefined, label: string): number | null {
  if (!logprobs || logprobs.length === 0) return null;
  const first = logprobs.find((t) => typeof t.token === 'string' && stripLead(t.token) !== '');
  if (!first || typeof first.logprob !== 'number') return null;
  const target = cleanLabelAnswer(label).toLowerCase();
  const isPrefix = (token: string): boolean => {
    const text = cleanLabelAnswer(token).toLowerCase();
    return text !== '' && target.startsWith(text);
  };
  if (!isPrefix(first.token)) return null;
  const seen = new Map<string, number>([[first.token, first.logprob]]);
  for (const alt of first.top_logprobs ?? []) {
    if (typeof alt?.token === 'string' && typeof alt.logprob === 'number' && !seen.has(alt.token)) seen.set(alt.token, alt.logprob);
  }
  let sum = 0;
  for (const [token, logprob] of seen) if (isPrefix(token)) sum += Math.exp(logprob);
  return Math.min(1, sum);
}

function stripLead(token: string): string {
  return token.replace(/^[\s"'`“”‘’«»*_]+/, '');
}
