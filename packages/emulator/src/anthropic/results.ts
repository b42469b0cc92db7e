// An ended batch's results JSONL in Anthropic's shape, streamed from the emulator's output and error files.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ServerResponse } from 'node:http';
import type { BatchObject, Store } from '../store.js';
import type { InlineBatch } from './batch-store.js';
import { errorType, toMessage } from './wire.js';

async function* fileLines(store: Store, fileId: string | null): AsyncGenerator<Record<string, unknown>> {
  if (!fileId || !store.files.has(fileId)) return;
  for await (const line of createInterface({ input: createReadStream(store.dataPath(fileId)), crlfDelay: Infinity })) {
    if (line.trim() !== '') yield JSON.parse(line) as Record<string, unknown>;
  }
}

const errored = (status: number, message: string) => ({ type: 'errored', error: { type: 'error', error: { type: errorType(status), message }, request_id: null } });

/** One emulator result line (output or error file) as an Anthropic result. */
function resultOf(line: Record<string, unknown>): unknown {
  const response = line['response'] as { status_code?: number; body?: { error?: { message?: string } } } | null;
  if (response && response.status_code === 200) return { type: 'succeeded', message: toMessage(response.body) };
  if (response) return errored(response.status_code ?? 500, response.body?.error?.message ?? 'request failed');
  const code = (line['error'] as { code?: string } | null)?.code;
  return code === 'batch_expired' ? { type: 'expired' } : code === 'batch_cancelled' ? { type: 'canceled' } : errored(500, 'request failed');
}

/** Every result of an ended batch, one line each: its answers, its refused requests, then those that never ran. */
async function* results(store: Store, b: BatchObject, inline: InlineBatch): AsyncGenerator<string> {
  const seen = new Set<string>();
  for (const e of inline.errored) yield JSON.stringify({ custom_id: e.custom_id, result: errored(400, e.message) });
  const failed = b.status === 'failed' ? (b.errors?.data[0]?.message ?? 'the batch failed validation') : null;
  if (failed === null) {
    for (const fileId of [b.output_file_id, b.error_file_id]) {
      for await (const line of fileLines(store, fileId)) {
        seen.add(line['custom_id'] as string);
        yield JSON.stringify({ custom_id: line['custom_id'], result: resultOf(line) });
      }
    }
  }
  for await (const line of fileLines(store, b.input_file_id)) {
    const id = line['custom_id'] as string;
    if (seen.has(id)) continue;
    const result = failed !== null ? errored(400, failed) : b.status === 'expired' ? { type: 'expired' } : b.status === 'cancelled' ? { type: 'canceled' } : errored(500, 'result lost');
    yield JSON.stringify({ custom_id: id, result });
  }
}

/** Stream the results as `application/x-jsonl` (written with backpressure). */
export async function sendResults(res: ServerResponse, store: Store, b: BatchObject, inline: InlineBatch): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-jsonl' });
  for await (const line of results(store, b, inline)) {
    if (!res.write(`${line}\n`)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}
