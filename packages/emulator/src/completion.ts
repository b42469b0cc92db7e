import { randomUUID } from 'node:crypto';
import { hash32 } from './internal/random.js';
import type { ChatRequestBody } from './options.js';
import { contentText, type ResponderAnswer } from './responder.js';

/**
 * Tokens as the emulator counts them: a word with its leading space, or one punctuation mark; long words are cut
 * every 8 characters (≈ 4 chars/token on English text). usage, max_completion_tokens, logprobs and stream chunks
 * all use this same split, so they agree.
 */
export function tokenize(text: string): string[] {
  const raw = text.match(/\s*[\p{L}\p{N}_]+|\s*[^\s\p{L}\p{N}_]|\s+/gu) ?? [];
  const out: string[] = [];
  for (const tok of raw) {
    if (tok.length <= 8) out.push(tok);
    else for (let i = 0; i < tok.length; i += 8) out.push(tok.slice(i, i + 8));
  }
  return out;
}

/** Prompt tokens: the tokens of every message plus 4 per message for role/formatting. */
export function promptTokens(body: Pick<ChatRequestBody, 'messages'>): number {
  return body.messages.reduce((n, m) => n + tokenize(contentText(m.content)).length + 4, 0);
}

interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

const FILLERS = [' the', ' a', ' I', ' it', ' is', ' and', ' of', ' to', ' in', ' that', ' this', ' for', ' on', ' with', ' as', ' be', ' at', ' by', ' or', ' an'];

const bytesOf = (s: string) => [...Buffer.from(s, 'utf8')];
const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Log probabilities: the first token of a label answer gets probability 0.55–0.95 and the other labels share
 * the rest (so a caller can compute a confidence); other tokens are near-certain.
 */
function logprobsFor(tokens: string[], answer: ResponderAnswer, top: number): LogprobEntry[] {
  return tokens.map((token, i) => {
    const h = hash32(`${i}\u0000${token}\u0000${answer.content}`);
    let p = i === 0 && answer.labels ? 0.55 + (h % 400) / 1000 : 0.9 + (h % 99) / 1000;
    const candidates: Array<{ token: string; p: number }> = [{ token, p }];
    if (i === 0 && answer.labels) {
      const others = answer.labels.map((l) => tokenize(l)[0] ?? l).filter((t) => t !== token);
      let rest = (1 - p) * 0.95;
      for (const other of others) {
        rest /= 2;
        candidates.push({ token: other, p: Math.max(rest, 1e-6) });
      }
    }
    let tail = (1 - p) * 0.04;
    for (const filler of FILLERS) {
      if (candidates.length >= Math.max(top, 1)) break;
      if (candidates.some((c) => c.token === filler)) continue;
      tail /= 2;
      candidates.push({ token: filler, p: Math.max(tail, 1e-9) });
    }
    p = candidates[0]!.p;
    return {
      token,
      logprob: round(Math.log(p)),
      bytes: bytesOf(token),
      top_logprobs: candidates.slice(0, top).map((c) => ({ token: c.token, logprob: round(Math.log(c.p)), bytes: bytesOf(c.token) })),
    };
  });
}

/** The answer cut to the request's stop sequences and token limit. */
export interface ShapedAnswer {
  tokens: string[];
  content: string;
  finishReason: 'stop' | 'length';
  stopReason: string | null;
  logprobs: LogprobEntry[] | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: null };
}

/** Apply stop, max_completion_tokens (or max_tokens), logprobs/top_logprobs and usage to an answer. */
export function shapeAnswer(body: ChatRequestBody, answer: ResponderAnswer): ShapedAnswer {
  let text = answer.content;
  let stopReason: string | null = null;
  const stops = body.stop == null ? [] : Array.isArray(body.stop) ? body.stop : [body.stop];
  let cut = -1;
  for (const s of stops) {
    if (typeof s !== 'string' || s === '') continue;
    const at = text.indexOf(s);
    if (at >= 0 && (cut < 0 || at < cut)) {
      cut = at;
      stopReason = s;
    }
  }
  if (cut >= 0) text = text.slice(0, cut);
  let tokens = tokenize(text);
  let finishReason: 'stop' | 'length' = 'stop';
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (typeof max === 'number' && tokens.length > max) {
    tokens = tokens.slice(0, max);
    finishReason = 'length';
    stopReason = null;
  }
  const content = tokens.join('');
  const prompt = promptTokens(body);
  const top = typeof body.top_logprobs === 'number' ? body.top_logprobs : 0;
  return {
    tokens,
    content,
    finishReason,
    stopReason,
    logprobs: body.logprobs ? logprobsFor(tokens, answer, top) : null,
    usage: { prompt_tokens: prompt, completion_tokens: tokens.length, total_tokens: prompt + tokens.length, prompt_tokens_details: null },
  };
}

/** A new completion id in kluster's style. */
export const completionId = () => `chatcmpl-${randomUUID()}`;

/** The Chat completion object of the reference. */
export function completionObject(body: ChatRequestBody, shaped: ShapedAnswer, id = completionId(), created = Math.floor(Date.now() / 1000)) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: body.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: shaped.content, tool_calls: [] as unknown[] },
        logprobs: shaped.logprobs ? { content: shaped.logprobs } : null,
        finish_reason: shaped.finishReason,
        stop_reason: shaped.stopReason,
      },
    ],
    usage: shaped.usage,
    prompt_logprobs: null,
    ...(typeof body.seed === 'number' ? { system_fingerprint: `emu-${body.seed}` } : {}),
  };
}

/** The SSE chunk objects of a streamed completion (role, one per token, finish, optional usage). */
export function* completionChunks(body: ChatRequestBody, shaped: ShapedAnswer, id = completionId(), created = Math.floor(Date.now() / 1000)) {
  const base = { id, object: 'chat.completion.chunk' as const, created, model: body.model };
  yield { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] };
  for (let i = 0; i < shaped.tokens.length; i++) {
    yield {
      ...base,
      choices: [
        {
          index: 0,
          delta: { content: shaped.tokens[i] },
          logprobs: shaped.logprobs ? { content: [shaped.logprobs[i]] } : null,
          finish_reason: null,
        },
      ],
    };
  }
  yield { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: shaped.finishReason, stop_reason: shaped.stopReason }] };
  const options = body['stream_options'] as { include_usage?: boolean } | undefined;
  if (options?.include_usage) yield { ...base, choices: [], usage: shaped.usage };
}
