import { z } from 'zod';
import type { TokenLogprob } from '../answers/confidence.js';
import { KbatchError } from '../errors.js';

// Tolerant shapes: unknown keys pass, optional parts may be missing or null, ids may be numbers.
const Id = z.union([z.string(), z.number()]).transform(String);
const Num = z.number().nullish().catch(null);

/** The reference's "request output object" (one line of a batch output or error file). */
export const ResultLineSchema = z.looseObject({
  id: Id.nullish(),
  custom_id: Id,
  response: z
    .looseObject({
      status_code: z.coerce.number().int(),
      request_id: Id.nullish().catch(null),
      body: z.unknown(),
    })
    .nullish(),
  error: z.looseObject({ code: Id.nullish().catch(null), message: z.string().nullish().catch(null) }).nullish().catch(null),
});
export type ResultLine = z.output<typeof ResultLineSchema>;

const ChatBodySchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({ content: z.unknown() }).nullish(),
        finish_reason: z.string().nullish().catch(null),
        logprobs: z
          .looseObject({ content: z.array(z.looseObject({ token: z.string(), logprob: z.number() })).nullish() })
          .nullish()
          .catch(null),
      }),
    )
    .min(1),
  usage: z.looseObject({ prompt_tokens: Num, completion_tokens: Num }).nullish().catch(null),
});

/** One result, normalized from an output-file or error-file line. */
export interface BatchResult {
  customId: string;
  /** True when the request returned HTTP 200 with a chat completion. */
  ok: boolean;
  /** HTTP status of the request (null when it failed before HTTP, see `error`). */
  statusCode: number | null;
  requestId: string | null;
  /** The assistant's text (null when the request failed). */
  response: string | null;
  finishReason: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  /** `choices[0].logprobs.content` when the request asked for logprobs. */
  logprobs: TokenLogprob[] | null;
  /** Null when ok; else a human message including the status code, e.g. "HTTP 429: rate limited (rate_limit_exceeded)". */
  error: string | null;
  /** The whole response body (or the line's `error` object when there was no response), for `keepRaw`. */
  body: unknown;
}

/** Where a result line came from, for error messages. */
export interface ResultLineSource {
  file?: string;
  line?: number;
}

/**
 * Normalize one output/error file line (text or parsed JSON) into a {@link BatchResult}.
 * A line that is not JSON or has no custom_id is RESPONSE_INVALID (with file and line).
 * @example parseResultLine('{"custom_id":"7","response":{"status_code":200,"body":{…}}}')
 */
export function parseResultLine(line: string | unknown, source: ResultLineSource = {}): BatchResult {
  let value: unknown = line;
  if (typeof line === 'string') {
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw invalid(`is not valid JSON: ${(err as Error).message}`, source, err);
    }
  }
  const parsed = ResultLineSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`is not a batch result (${issue.path.join('.') || 'line'}: ${issue.message})`, source, parsed.error);
  }
  return normalizeResultLine(parsed.data);
}

/** Turn a schema-checked result line into a {@link BatchResult}; pure. */
export function normalizeResultLine(line: ResultLine): BatchResult {
  const base: BatchResult = {
    customId: line.custom_id,
    ok: false,
    statusCode: line.response?.status_code ?? null,
    requestId: line.response?.request_id ?? null,
    response: null,
    finishReason: null,
    promptTokens: null,
    completionTokens: null,
    logprobs: null,
    error: null,
    body: line.response ? line.response.body : (line.error ?? null),
  };
  if (!line.response) {
    const e = line.error;
    base.error = e
      ? `request failed${e.code ? ` (${e.code})` : ''}: ${e.message ?? 'no message'}`
      : 'result line has neither a response nor an error';
    return base;
  }
  const status = line.response.status_code;
  if (status < 200 || status >= 300) {
    base.error = `HTTP ${status}: ${errorMessage(line.response.body)}`;
    return base;
  }
  const body = ChatBodySchema.safeParse(line.response.body);
  if (!body.success) {
    base.error = `HTTP ${status} but the body is not a chat completion (${body.error.issues[0]!.path.join('.') || 'body'}: ${body.error.issues[0]!.message})`;
    return base;
  }
  const choice = body.data.choices[0]!;
  base.ok = true;
  base.response = contentText(choice.message?.content);
  base.finishReason = choice.finish_reason ?? null;
  base.promptTokens = body.data.usage?.prompt_tokens ?? null;
  base.completionTokens = body.data.usage?.completion_tokens ?? null;
  base.logprobs = (choice.logprobs?.content as TokenLogprob[] | null | undefined) ?? null;
  if (line.error) {
    // A line with both a 200 response and an error: keep the answer but do not call it a success.
    base.ok = false;
    base.error = `request failed${line.error.code ? ` (${line.error.code})` : ''}: ${line.error.message ?? 'no message'}`;
  }
  return base;
}

function contentText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    // Content parts: keep the text parts in order.
    return content.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('');
  }
  return null;
}

function errorMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const { error, message } = body as { error?: unknown; message?: unknown };
    if (typeof error === 'string') return error;
    if (typeof error === 'object' && error !== null) {
      const e = error as { message?: unknown; code?: unknown; type?: unknown };
      const tag = e.code ?? e.type;
      if (typeof e.message === 'string') return tag !== undefined && tag !== null ? `${e.message} (${String(tag)})` : e.message;
    }
    if (typeof message === 'string') return message;
  }
  if (typeof body === 'string' && body !== '') return body.slice(0, 200);
  const text = JSON.stringify(body ?? null);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function invalid(what: string, source: ResultLineSource, cause: unknown): KbatchError {
  const where = source.file ? `${source.file}${source.line ? `:${source.line}` : ''}` : source.line ? `line ${source.line}` : 'result line';
  return new KbatchError('RESPONSE_INVALID', `${where} ${what}`, { file: source.file, line: source.line, cause });
}
