import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { isKnownModel } from './models.js';
import type { BatchErrorEntry, BatchObject, Store } from './store.js';

const MAX_REPORTED_ERRORS = 1000;

/** What {@link validateBatchInput} needs besides the batch. */
export interface ValidateBatchContext {
  store: Store;
  maxBatchBytes: number;
  maxRequestsPerBatch: number;
  /** Bytes allowed per line (UTF-8, without its newline). */
  maxLineBytes: number;
  /** Every line must name the first line's model (OpenAI: one model per input file). */
  oneModelPerFile: boolean;
  /** Check body.model against the known models (off when an upstream decides). */
  checkModels: boolean;
  /** Stop reading early (the emulator is closing). */
  isClosed: () => boolean;
}

/**
 * Validate a batch's input file line by line (constant memory, except the custom_id set): JSON, custom_id
 * (present, unique), method, url, body, model, line size. Returns the request count and up to 1,000 errors.
 */
export async function validateBatchInput(b: BatchObject, ctx: ValidateBatchContext): Promise<{ total: number; errors: BatchErrorEntry[] }> {
  const errors: BatchErrorEntry[] = [];
  const add = (e: BatchErrorEntry) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(e);
  };
  const path = ctx.store.dataPath(b.input_file_id);
  const size = (await stat(path)).size;
  if (size > ctx.maxBatchBytes) {
    add({ code: 'file_too_large', message: `The input file has ${size} bytes; the limit is ${ctx.maxBatchBytes} bytes`, param: 'input_file_id', line: null });
    return { total: 0, errors };
  }
  const seen = new Set<string>();
  let firstModel: { model: unknown; line: number } | undefined;
  let total = 0;
  let lineNo = 0;
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of rl) {
    lineNo++;
    if (ctx.isClosed()) break;
    if (line.trim() === '') continue;
    total++;
    if (total > ctx.maxRequestsPerBatch) {
      // A file-level error, as OpenAI reports them: no line (the batch as a whole is too big, not its line N).
      add({ code: 'too_many_requests', message: `The input file has more than ${ctx.maxRequestsPerBatch} requests`, param: null, line: null });
      break;
    }
    const bytes = Buffer.byteLength(line);
    if (bytes > ctx.maxLineBytes) {
      add({ code: 'line_too_long', message: `Line ${lineNo} has ${bytes} bytes; the limit is ${ctx.maxLineBytes} bytes per line`, param: null, line: lineNo });
      continue;
    }
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      add({ code: 'invalid_json_line', message: `Line ${lineNo} is not valid JSON`, param: null, line: lineNo });
      continue;
    }
    if (!req || typeof req !== 'object' || Array.isArray(req)) {
      add({ code: 'invalid_json_line', message: `Line ${lineNo} is not a JSON object`, param: null, line: lineNo });
      continue;
    }
    const r = req as Record<string, unknown>;
    const id = r['custom_id'];
    if (typeof id !== 'string' || id === '') {
      add({ code: 'missing_custom_id', message: `Line ${lineNo} has no custom_id`, param: 'custom_id', line: lineNo });
    } else if (seen.has(id)) {
      add({ code: 'duplicate_custom_id', message: `The custom_id ${JSON.stringify(id)} on line ${lineNo} is already used by an earlier line`, param: 'custom_id', line: lineNo });
    } else {
      seen.add(id);
    }
    if (r['method'] !== 'POST') {
      add({ code: 'invalid_method', message: `Line ${lineNo}: method must be POST, got ${JSON.stringify(r['method'])}`, param: 'method', line: lineNo });
    }
    if (r['url'] !== b.endpoint) {
      add({ code: 'invalid_url', message: `Line ${lineNo}: url must be ${b.endpoint}, got ${JSON.stringify(r['url'])}`, param: 'url', line: lineNo });
    }
    const body = r['body'];
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      add({ code: 'missing_required_parameter', message: `Line ${lineNo} has no body object`, param: 'body', line: lineNo });
    } else if (ctx.checkModels && !isKnownModel(ctx.store, (body as { model?: unknown }).model)) {
      add({ code: 'model_not_found', message: `Line ${lineNo}: the model ${JSON.stringify((body as { model?: unknown }).model)} does not exist`, param: 'body.model', line: lineNo });
    } else if (ctx.oneModelPerFile) {
      const model = (body as { model?: unknown }).model;
      firstModel ??= { model, line: lineNo };
      if (model !== firstModel.model) {
        // The wording and code are the emulator's: OpenAI's exact error for a mixed file is not documented.
        add({ code: 'model_mismatch', message: `Line ${lineNo}: the model ${JSON.stringify(model)} differs from ${JSON.stringify(firstModel.model)} on line ${firstModel.line}; a batch input file takes one model`, param: 'body.model', line: lineNo });
      }
    }
  }
  rl.close();
  if (total === 0 && errors.length === 0) add({ code: 'empty_file', message: 'The input file has no requests', param: 'input_file_id', line: null });
  return { total, errors };
}
