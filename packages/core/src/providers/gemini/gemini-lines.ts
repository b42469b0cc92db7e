import { KbatchError } from '../../errors.js';
import { toChatCompletion, type GenerateContentResponse } from './from-generate-content.js';
import { toGenerateContent } from './to-generate-content.js';
import { httpStatusOf, statusNameOf, type GoogleStatus } from './google-status.js';

/**
 * One kbatch request line (`{custom_id, method, url, body}`) as a line of Gemini's batch input file
 * (`{key, request}`); the model goes in the create URL, so it is returned beside the line.
 * @param lineNo - 1-based, for the error of a line that is not a request
 * @throws KbatchError LINE_INVALID for a line that is not a request; PARAM_UNSUPPORTED (see toGenerateContent)
 */
export function toGeminiLine(text: string, lineNo: number): { key: string; model: string; line: string } {
  let parsed: { custom_id?: unknown; body?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (cause) {
    throw new KbatchError('LINE_INVALID', `Request line ${lineNo} is not valid JSON`, { line: lineNo, cause });
  }
  const key = parsed?.custom_id;
  if (typeof key !== 'string' || key === '' || typeof parsed.body !== 'object' || parsed.body === null) {
    throw new KbatchError('LINE_INVALID', `Request line ${lineNo} has no custom_id or body`, { line: lineNo });
  }
  try {
    const { model, request } = toGenerateContent(parsed.body as Record<string, unknown>);
    return { key, model, line: JSON.stringify({ key, request }) };
  } catch (error) {
    if (error instanceof KbatchError) error.message = `Request line ${lineNo} (custom_id ${key}): ${error.message}`;
    throw error;
  }
}

/** The OpenAI error body of a Google status: `code` is the status name in lower case (`resource_exhausted`, `cancelled`; from the rpc code when no name is sent). */
export function openAiErrorBody(status: GoogleStatus): { error: { message: string; type: string; code: string | null } } {
  const name = statusNameOf(status);
  return { error: { message: status.message ?? 'Gemini request failed', type: name ?? 'error', code: name === null ? null : name.toLowerCase() } };
}

/**
 * One line of a Gemini responses file as a kbatch batch result line: `{key, response}` → a 200 chat.completion,
 * `{key, error}` → the HTTP status of its google.rpc.Status (see httpStatusOf: `{code: 3}` is INVALID_ARGUMENT, a
 * 400) and the provider's message (its status name as the code, so a `cancelled` or 5xx request is sent again and a 400 is not). `ok` says which of the two (output or error file) it belongs to.
 * @returns null for a line without a key (nothing to match it to)
 */
export function fromGeminiLine(text: string): { ok: boolean; line: string } | null {
  const parsed = JSON.parse(text) as { key?: unknown; response?: GenerateContentResponse; error?: GoogleStatus };
  const key = parsed?.key;
  if (typeof key !== 'string' && typeof key !== 'number') return null;
  const customId = String(key);
  if (parsed.response && typeof parsed.response === 'object') {
    const body = toChatCompletion(parsed.response, '');
    return { ok: true, line: JSON.stringify({ id: `gemini-${customId}`, custom_id: customId, response: { status_code: 200, request_id: body['id'], body }, error: null }) };
  }
  const status = parsed.error && typeof parsed.error === 'object' ? parsed.error : { code: 500, message: 'the line holds neither a response nor an error', status: 'INTERNAL' };
  const code = httpStatusOf(status);
  return { ok: false, line: JSON.stringify({ id: `gemini-${customId}`, custom_id: customId, response: { status_code: code, request_id: null, body: openAiErrorBody(status) }, error: null }) };
}
