import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { createRejectsWriter } from '../internal/rejects-writer.js';
import { recordBatches } from '../records/record-batches.js';
import type { ReadRecordsOptions } from '../records/read-options.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import { createRequestEncoder } from './request-encoder.js';
import type { RequestOptions } from './request-options.js';
import { createRequestBuilder } from './to-batch-request.js';

const WRITE_BATCH_CHARS = 1 << 18;

const PrepareOutputSchema = z.object({
  output: z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path, "-" or a Writable' }).default('-'),
  rejects: z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path or a Writable' }).optional(),
  stdout: z.instanceof(Writable, { error: 'must be a Writable' }).optional(),
  signal: z.instanceof(AbortSignal, { error: 'must be an AbortSignal' }).optional(),
});

/** Options of `prepareRequests`: where records come from, how requests look, where lines go. */
export type PrepareRequestsOptions = Omit<ReadRecordsOptions, 'onReject'> &
  RequestOptions & {
    /** A path, `-` (stdout, the default) or a Writable (left open). */
    output?: string | Writable;
    /** Rejected records go here as JSON lines (with `onInvalidRecord: 'skip'`); created only if needed. */
    rejects?: string | Writable;
    /** Where `-` writes (default process.stdout). */
    stdout?: Writable;
    signal?: AbortSignal;
  };

/** What `prepareRequests` did. `recordsRead === linesWritten + rejected` always holds. */
export interface PrepareSummary {
  recordsRead: number;
  linesWritten: number;
  rejected: number;
  /** Bytes of request lines written (UTF-8, newlines included). */
  bytesWritten: number;
}

/**
 * Read records and write one chat-completion request line per record (the `kbatch prepare` command).
 * Memory stays flat: records are handled a batch (one input chunk) at a time and lines are written
 * in ~1 MB writes; only the custom_id and the rendered prompts are JSON-encoded per record.
 * @example
 * const summary = await prepareRequests({ input: 'reviews.csv', output: 'requests.jsonl',
 *   model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', prompt: 'Sentiment of: {{text}}', temperature: 0 });
 */
export async function prepareRequests(options: PrepareRequestsOptions): Promise<PrepareSummary> {
  const { input, format, delimiter, onInvalidRecord, fileName, stdin, output, rejects, stdout, signal, ...request } = options;
  const io = parseOptions(PrepareOutputSchema, { output, rejects, stdout, signal }, 'prepareRequests');
  const builder = createRequestBuilder(request);
  const file = typeof input === 'string' ? input : (fileName ?? '-');
  const rejectsOut = createRejectsWriter(io.rejects);
  // Malformed rows are found while a batch is parsed, before its records are built: queue them so the
  // rejects file stays in input order.
  const readRejects: RejectedRecord[] = [];
  const drainUpTo = (record: number) => {
    while (readRejects.length > 0 && readRejects[0]!.record < record) rejectsOut.write(readRejects.shift()!);
  };
  const onBuildReject = (rejected: RejectedRecord) => {
    drainUpTo(rejected.record);
    rejectsOut.write(rejected);
  };
  const encoder = createRequestEncoder(builder, { onInvalidRecord, onReject: onBuildReject, file });
  const batches = recordBatches({
    input, format, delimiter, onInvalidRecord, fileName, stdin,
    onReject: (rejected) => {
      // Bounded: a run of thousands of bad rows is written at once (order kept within it).
      if (readRejects.push(rejected) >= 1024) drainUpTo(Infinity);
    },
  });

  const ownsOutput = typeof io.output === 'string' && io.output !== '-';
  const out: Writable =
    io.output === '-' ? (io.stdout ?? process.stdout) : typeof io.output === 'string' ? createWriteStream(io.output) : io.output;
  let outputError: unknown;
  const onError = (err: unknown) => (outputError ??= err);
  out.on('error', onError);

  let linesWritten = 0;
  let bytesWritten = 0;
  let pending = '';
  const flush = async () => {
    if (outputError !== undefined) throw outputError;
    const chunk = pending;
    pending = '';
    bytesWritten += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await drained(out);
    if (outputError !== undefined) throw outputError;
  };
  try {
    for await (const batch of batches) {
      if (io.signal?.aborted) throw new KbatchError('ABORTED', 'prepare was aborted', { cause: io.signal.reason });
      for (const record of batch) {
        const line = encoder.encodeLine(record);
        if (line === undefined) continue;
        pending += line + '\n';
        linesWritten++;
      }
      drainUpTo(Infinity);
      await rejectsOut.drain();
      if (pending.length >= WRITE_BATCH_CHARS) await flush();
    }
    drainUpTo(Infinity);
    if (pending !== '') await flush();
    if (ownsOutput) {
      out.end();
      await finished(out);
    }
  } catch (err) {
    if (ownsOutput) out.destroy();
    await rejectsOut.close().catch(() => {});
    throw err;
  } finally {
    out.off('error', onError);
  }
  await rejectsOut.close();
  const rejected = rejectsOut.count;
  return { recordsRead: linesWritten + rejected, linesWritten, rejected, bytesWritten };
}

// Wait for 'drain' (or 'error'/'close', reported by the caller through outputError) without leaking listeners.
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('error', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('error', done);
    out.on('close', done);
  });
}
