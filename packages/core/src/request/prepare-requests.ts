import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { createRejectsWriter } from '../internal/rejects-writer.js';
import { canRunWorkers, parallelPrepare } from '../internal/parallel-prepare.js';
import { detectFormat } from '../records/detect-format.js';
import { ReadRecordsOptionsSchema } from '../records/read-options.js';
import { openInput, recordBatches } from '../records/record-batches.js';
import type { ReadRecordsOptions } from '../records/read-options.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import { createRequestEncoder } from './request-encoder.js';
import type { RequestOptions } from './request-options.js';
import { createRequestBuilder } from './to-batch-request.js';

const OUT_BUFFER_BYTES = 1 << 20;

const PrepareOutputSchema = z.object({
  output: z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path, "-" or a Writable' }).default('-'),
  rejects: z.union([z.string().min(1), z.instanceof(Writable)], { error: 'must be a path or a Writable' }).optional(),
  stdout: z.instanceof(Writable, { error: 'must be a Writable' }).optional(),
  signal: z.instanceof(AbortSignal, { error: 'must be an AbortSignal' }).optional(),
  workers: z.number({ error: 'must be a whole number ≥ 0' }).int({ error: 'must be a whole number ≥ 0' }).min(0, { error: 'must be a whole number ≥ 0' }).optional(),
  pieceBytes: z.number({ error: 'must be a positive integer' }).int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' }).default(1 << 16),
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
    /**
     * Worker threads that parse and encode (CSV/TSV/JSONL without `idColumn`); default 0 = this thread.
     * Output is identical either way. Measured on 2 cores, 1M review rows: 2 workers ≈10–20% faster
     * but ≈+50 MB peak RSS, so it is opt-in.
     */
    workers?: number;
    /** Bytes of input per worker task (default 64 KiB). */
    pieceBytes?: number;
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
  const { input, format, delimiter, onInvalidRecord, fileName, stdin, output, rejects, stdout, signal, workers, pieceBytes, ...request } =
    options;
  const io = parseOptions(PrepareOutputSchema, { output, rejects, stdout, signal, workers, pieceBytes }, 'prepareRequests');
  const builder = createRequestBuilder(request);
  const file = typeof input === 'string' ? input : (fileName ?? '-');
  const rejectsOut = createRejectsWriter(io.rejects);
  const read = parseOptions(ReadRecordsOptionsSchema, { input, format, delimiter, onInvalidRecord, fileName, stdin }, 'prepareRequests');
  const threads = io.workers ?? 0;
  const resolvedFormat = read.format ?? (typeof read.input === 'string' ? detectFormat(read.input) : undefined);
  const parallel = threads > 0 && canRunWorkers() && builder.options.idColumn === undefined && resolvedFormat !== undefined && resolvedFormat !== 'json';
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
  // Lines are encoded straight into a large buffer: no big string is built, flattened and re-encoded.
  let obuf = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
  let off = 0;
  const append = (line: string) => {
    if (off + line.length * 3 + 1 > obuf.length) {
      if (off > 0) {
        full.push(obuf.subarray(0, off));
        obuf = Buffer.allocUnsafe(Math.max(OUT_BUFFER_BYTES, line.length * 3 + 1));
        off = 0;
      } else obuf = Buffer.allocUnsafe(line.length * 3 + 1);
    }
    off += obuf.write(line, off);
    obuf[off++] = 10;
  };
  const full: Buffer[] = [];
  const flush = async (all: boolean) => {
    if (outputError !== undefined) throw outputError;
    if (all && off > 0) {
      full.push(obuf.subarray(0, off));
      obuf = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
      off = 0;
    }
    for (const chunk of full.splice(0)) {
      bytesWritten += chunk.length;
      if (!out.write(chunk)) await drained(out);
      if (outputError !== undefined) throw outputError;
    }
  };
  try {
    if (parallel) {
      const { source } = await openInput(read);
      const result = await parallelPrepare({
        source,
        file,
        format: resolvedFormat as 'csv' | 'tsv' | 'jsonl',
        delimiter: read.delimiter,
        onInvalidRecord: read.onInvalidRecord,
        request,
        workers: threads,
        pieceBytes: io.pieceBytes,
        signal: io.signal,
        onReject: (rejected) => rejectsOut.write(rejected),
        write: async (bytes) => {
          if (outputError !== undefined) throw outputError;
          bytesWritten += bytes.length;
          if (!out.write(bytes)) await drained(out);
          await rejectsOut.drain();
          if (outputError !== undefined) throw outputError;
        },
      });
      linesWritten = result.linesWritten;
    } else for await (const batch of batches) {
      if (io.signal?.aborted) throw new KbatchError('ABORTED', 'prepare was aborted', { cause: io.signal.reason });
      for (const record of batch) {
        const line = encoder.encodeLine(record);
        if (line === undefined) continue;
        append(line);
        linesWritten++;
      }
      drainUpTo(Infinity);
      await rejectsOut.drain();
      if (full.length > 0) await flush(false);
    }
    drainUpTo(Infinity);
    await flush(true);
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
