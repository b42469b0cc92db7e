import { z } from 'zod';
import type { TokenLogprob } from '../answers/confidence.js';
import { KbatchError } from '../errors.js';
import type { BatchResultLine } from '../job/job-types.js';

// Tolerant shapes: unknown keys pass, optional parts may be missing or null, ids may be numbers.
// Kept free of .catch()/.transform() (10x slower per line); optional details are read by hand below.
/** The reference's "request output object" (one line of a batch output or error file). */
export const ResultLineSchema = z.looseObject({
  id: z.unknown().optional(),
  custom_id: z.union([z.string(), z.number()], { error: 'must be a string' }),
  response: z
    .looseObject({
      status_code: z.coerce.number().int(),
      request_id: z.unknown().optional(),
      body: z.unknown(),
    })
    .nullish(),
  error: z.unknown().optional(),
});
/** A line as {@link ResultLineSchema} accepts it (a numeric custom_id or a string status code pass). */
type CheckedResultLine = z.output<typeof ResultLineSchema>;
/** @deprecated One type for a result line: `BatchResultLine` (this name is kept for the public API). */
export type ResultLine = BatchResultLine;

const ChatBodySchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({ content: z.unknown() }).nullish(),
        finish_reason: z.unknown().optional(),
        logprobs: z.unknown().optional(),
      }),
    )
    .min(1),
  usage: z.unknown().optional(),
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
  /** Of `completionTokens`: `usage.completion_tokens_details.reasoning_tokens`, when reported. */
  reasoningTokens?: number;
  /** Of `promptTokens`: `usage.prompt_tokens_details.cached_tokens`, when reported. */
  cachedTokens?: number;
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
  // The common shape is checked by hand (zod costs more than the JSON.parse); anything else gets zod's verdict.
  if (isPlainResultLine(value)) return normalizeResultLine(value);
  const parsed = ResultLineSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`is not a batch result (${issue.path.join('.') || 'line'}: ${issue.message})`, source, parsed.error);
  }
  return normalizeResultLine(parsed.data);
}

/** True when `value` already has {@link ResultLineSchema}'s output shape (no coercion needed). */
function isPlainResultLine(value: unknown): value is CheckedResultLine {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { custom_id: id, response } = value as { custom_id?: unknown; response?: unknown };
  if (typeof id !== 'string' && typeof id !== 'number') return false;
  if (response === null || response === undefined) return true;
  if (typeof response !== 'object' || Array.isArray(response)) return false;
  const status = (response as { status_code?: unknown }).status_code;
  return typeof status === 'number' && Number.isInteger(status);
}

/** The first choice of a chat completion body when it has ChatBodySchema's shape without coercion, else null. */
function plainChatBody(body: unknown): { choice: z.output<typeof ChatBodySchema>['choices'][number]; usage: unknown } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { choices, usage } = body as { choices?: unknown; usage?: unknown };
  if (!Array.isArray(choices) || choices.length === 0) return null;
  for (const choice of choices) {
    if (typeof choice !== 'object' || choice === null || Array.isArray(choice)) return null;
    const message = (choice as { message?: unknown }).message;
    if (message !== null && message !== undefined && (typeof message !== 'object' || Array.isArray(message))) return null;
  }
  return { choice: choices[0] as z.output<typeof ChatBodySchema>['choices'][number], usage };
}

/** Turn a schema-checked result line into a {@link BatchResult}; pure. */
export function normalizeResultLine(line: CheckedResultLine | BatchResultLine): BatchResult {
  const lineError = errorObject(line.error);
  const base: BatchResult = {
    customId: String(line.custom_id),
    ok: false,
    statusCode: line.response?.status_code ?? null,
    requestId: typeof line.response?.request_id === 'string' ? line.response.request_id : null,
    response: null,
    finishReason: null,
    promptTokens: null,
    completionTokens: null,
    logprobs: null,
    error: null,
    body: line.response ? line.response.body : (line.error ?? null),
  };
  if (!line.response) {
    base.error = lineError ? describeLineError(lineError) : 'result line has neither a response nor an error';
    return base;
  }
  const status = line.response.status_code;
  if (status < 200 || status >= 300) {
    base.error = `HTTP ${status}: ${errorMessage(line.response.body)}`;
    return base;
  }
  let chat = plainChatBody(line.response.body);
  if (chat === null) {
    const body = ChatBodySchema.safeParse(line.response.body);
    if (!body.success) {
      const issue = body.error.issues[0]!;
      base.error = `HTTP ${status} but the body is not a chat completion (${issue.path.join('.') || 'body'}: ${issue.message})`;
      return base;
    }
    chat = { choice: body.data.choices[0]!, usage: body.data.usage };
  }
  const choice = chat.choice;
  const usage = (typeof chat.usage === 'object' && chat.usage !== null ? chat.usage : {}) as Record<string, unknown>;
  const logprobs = choice.logprobs as { content?: unknown } | null | undefined;
  base.ok = true;
  base.response = contentText(choice.message?.content);
  base.finishReason = typeof choice.finish_reason === 'string' ? choice.finish_reason : null;
  base.promptTokens = typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : null;
  base.completionTokens = typeof usage.completion_tokens === 'number' ? usage.completion_tokens : null;
  const reasoning = (usage.completion_tokens_details as { reasoning_tokens?: unknown } | null | undefined)?.reasoning_tokens;
  const cached = (usage.prompt_tokens_details as { cached_tokens?: unknown } | null | undefined)?.cached_tokens;
  if (typeof reasoning === 'number') base.reasoningTokens = reasoning;
  if (typeof cached === 'number') base.cachedTokens = cached;
  base.logprobs = Array.isArray(logprobs?.content) ? (logprobs.content as TokenLogprob[]) : null;
  if (lineError) {
    // A line with both a 2xx response and an error: keep the answer but do not call it a success.
    base.ok = false;
    base.error = describeLineError(lineError);
  }
  return base;
}

function errorObject(error: unknown): { code?: unknown; message?: unknown } | null {
  if (error === null || error === undefined) return null;
  if (typeof error === 'object') return error as { code?: unknown; message?: unknown };
  return { message: String(error) };
}

function describeLineError(e: { code?: unknown; message?: unknown }): string {
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? ` (${e.code})` : '';
  return `request failed${code}: ${typeof e.message === 'string' ? e.message : 'no message'}`;
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CUSTOM_ID = Buffer.from('custom_id');

/**
 * The top-level `custom_id` of a JSON result line read from its bytes without parsing the line (it comes near the
 * start of every line kbatch and the batch APIs write), or null when unsure — escapes, an odd shape, a line not
 * ending in `}` (torn) — and the caller parses the line instead.
 */
export function peekCustomId(buf: Buffer, start = 0, end = buf.length): string | null {
  if (buf[start] !== 0x7b || buf[end - 1] !== 0x7d) return null;
  let depth = 0;
  let keyNext = false;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === QUOTE) {
      const close = stringEnd(buf, i + 1, end);
      if (close === -1) return null;
      if (depth === 1 && keyNext && close - i - 1 === CUSTOM_ID.length && buf.compare(CUSTOM_ID, 0, CUSTOM_ID.length, i + 1, close) === 0) {
        return valueAfterKey(buf, close + 1, end);
      }
      keyNext = false;
      i = close;
    } else if (b === 0x7b || b === 0x5b) {
      depth++;
      keyNext = b === 0x7b;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    } else if (b === 0x2c) {
      keyNext = true;
    }
  }
  return null;
}

/** Index of the quote closing the string that starts at `start` (before `end`), or -1. */
function stringEnd(buf: Buffer, start: number, end: number): number {
  for (let i = buf.indexOf(QUOTE, start); i !== -1 && i < end; i = buf.indexOf(QUOTE, i + 1)) {
    let slashes = 0;
    while (buf[i - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return i;
  }
  return -1;
}

/** The string or integer value after `"custom_id"` (at `i`, before the colon), or null to let JSON.parse decide. */
function valueAfterKey(buf: Buffer, i: number, limit: number): string | null {
  while (buf[i] === 0x20 || buf[i] === 0x09) i++;
  if (buf[i++] !== 0x3a) return null;
  while (buf[i] === 0x20 || buf[i] === 0x09) i++;
  if (buf[i] === QUOTE) {
    const end = buf.indexOf(QUOTE, i + 1);
    if (end === -1 || end >= limit) return null;
    const text = buf.toString('utf8', i + 1, end);
    return text.includes('\\') ? null : text;
  }
  let end = i;
  while (end < limit && buf[end]! >= 0x30 && buf[end]! <= 0x39) end++;
  const after = buf[end];
  return end > i && end - i <= 15 && buf[i] !== 0x30 && (after === 0x2c || after === 0x7d || after === 0x20) ? buf.toString('latin1', i, end) : null;
}
