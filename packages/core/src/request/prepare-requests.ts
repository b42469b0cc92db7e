import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { booleanField, functionField, outputField, parseOptions, rejectsField, signalField, writableField } from '../options.js';
import { fastCsvPrepare } from '../internal/csv-fast-prepare.js';
import { createRejectsWriter, type RejectsWriter } from '../internal/rejects-writer.js';
import { detectFormat } from '../records/detect-format.js';
import { ReadRecordsOptionsSchema, type ReadRecordsOptions, type ResolvedReadRecordsOptions } from '../records/read-options.js';
import { openInput, recordBatches } from '../records/record-batches.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { SourceRecord } from '../records/source-record.js';
import { LineBuffer } from './line-buffer.js';
import { createRequestEncoder } from './request-encoder.js';
import type { RequestOptions } from './request-options.js';
import { createRequestBuilder, type RequestBuilder } from './to-batch-request.js';
import { drained } from '../internal/drained.js';

const PrepareOutputSchema = z.object({
  output: outputField().default('-'),
  rejects: rejectsField().optional(),
  stdout: writableField().optional(),
  signal: signalField().optional(),
  bytePath: booleanField().default(true),
  checkRecord: functionField<(record: SourceRecord, file: string) => void>().optional(),
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
     * Use the byte-level CSV/TSV path when it applies (template fields and id column are header
     * columns); default true. Its output is identical to the text path's.
     */
    bytePath?: boolean;
    /**
     * Called before a record's request is built, with the first record (CSV/TSV) or every record (JSON inputs,
     * whose keys vary); throw to stop. `runJob` checks here that the fields its join adds are free.
     */
    checkRecord?: (record: SourceRecord, file: string) => void;
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
 * Memory stays flat: input is handled a chunk at a time and lines are written in ~1 MB writes.
 * @example
 * const summary = await prepareRequests({ input: 'reviews.csv', output: 'requests.jsonl',
 *   model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', prompt: 'Sentiment of: {{text}}', temperature: 0 });
 */
export async function prepareRequests(options: PrepareRequestsOptions): Promise<PrepareSummary> {
  const { input, format, delimiter, encoding, onInvalidRecord, fileName, stdin, onHeader, keep, output, rejects, stdout, signal, bytePath, checkRecord, ...request } =
    options;
  const io = parseOptions(PrepareOutputSchema, { output, rejects, stdout, signal, bytePath, checkRecord }, 'prepareRequests');
  const builder = createRequestBuilder(request);
  const given = parseOptions(ReadRecordsOptionsSchema, { input, format, delimiter, encoding, onInvalidRecord, fileName, stdin, onHeader, keep }, 'prepareRequests');
  const file = typeof given.input === 'string' ? given.input : (given.fileName ?? '-');
  // A template field missing from the header fails every row alike: say so once, even when there are no rows.
  let headerSeen = false;
  const read: ResolvedReadRecordsOptions = {
    ...given,
    onHeader: (columns, line) => {
      builder.checkColumns(columns, file, line);
      // Once, although a byte path that falls back reads the header again.
      if (!headerSeen) given.onHeader?.(columns, line);
      headerSeen = true;
    },
  };
  const resolvedFormat = read.format ?? detectFormat(file);
  const rejectsOut = createRejectsWriter(io.rejects);

  const ownsOutput = typeof io.output === 'string' && io.output !== '-';
  const out: Writable =
    io.output === '-' ? (io.stdout ?? process.stdout) : typeof io.output === 'string' ? createWriteStream(io.output) : io.output;
  let outputError: unknown;
  const onError = (err: unknown) => (outputError ??= err);
  out.on('error', onError);
  let bytesWritten = 0;
  const write = async (bytes: Buffer) => {
    if (outputError !== undefined) throw outputError;
    bytesWritten += bytes.length;
    if (!out.write(bytes)) await drained(out);
    await rejectsOut.drain();
    if (outputError !== undefined) throw outputError;
  };
  const onReject = (rejected: RejectedRecord) => rejectsOut.write(rejected);

  let linesWritten = 0;
  try {
    let textRead: ResolvedReadRecordsOptions = { ...read, format: resolvedFormat };
    let done = false;
    // A sample (`keep`) reads through the record path, which drops the records it does not take.
    if (io.bytePath && given.keep === undefined && (resolvedFormat === 'csv' || resolvedFormat === 'tsv')) {
      const { source } = await openInput(read);
      const result = await fastCsvPrepare({
        source,
        file,
        delimiter: read.delimiter ?? (resolvedFormat === 'tsv' ? '\t' : ','),
        onInvalidRecord: read.onInvalidRecord,
        builder,
        write,
        onReject,
        signal: io.signal,
        encoding: read.encoding,
        onHeader: read.onHeader!,
        ...(io.checkRecord ? { checkRecord: (record: SourceRecord) => io.checkRecord!(record, file) } : {}),
      });
      if ('fallback' in result) textRead = { ...read, input: result.fallback, fileName: file, format: resolvedFormat };
      else {
        linesWritten = result.linesWritten;
        done = true;
      }
    }
    if (!done) linesWritten = await textPrepare(textRead, { file, builder, checkRecord: io.checkRecord, rejectsOut, write, signal: io.signal });
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

// The general path: records as objects, lines built as text (any format, ids from a column).
interface TextPrepareContext {
  file: string;
  builder: RequestBuilder;
  checkRecord: ((record: SourceRecord, file: string) => void) | undefined;
  rejectsOut: RejectsWriter;
  write: (bytes: Buffer) => Promise<void>;
  signal: AbortSignal | undefined;
}

async function textPrepare(read: ResolvedReadRecordsOptions, context: TextPrepareContext): Promise<number> {
  const { file, builder, checkRecord, rejectsOut, write, signal } = context;
  // Malformed rows are found while a chunk is parsed, before its records are built: queue them so the
  // rejects file stays in input order (bounded: a long run of bad rows is written at once).
  const readRejects: RejectedRecord[] = [];
  const drainUpTo = (record: number) => {
    while (readRejects.length > 0 && readRejects[0]!.record < record) rejectsOut.write(readRejects.shift()!);
  };
  const encoder = createRequestEncoder(builder, {
    onInvalidRecord: read.onInvalidRecord,
    file,
    onReject: (rejected) => {
      drainUpTo(rejected.record);
      rejectsOut.write(rejected);
    },
  });
  const batches = recordBatches({
    ...read,
    onReject: (rejected) => {
      if (readRejects.push(rejected) >= 1024) drainUpTo(Infinity);
    },
  });

  const out = new LineBuffer();
  let linesWritten = 0;
  // CSV rows share their header's columns: the first record stands for all of them.
  let check = checkRecord;
  const everyRecord = read.format !== 'csv' && read.format !== 'tsv';
  for await (const batch of batches) {
    if (signal?.aborted) throw new KbatchError('ABORTED', 'prepare was aborted', { cause: signal.reason });
    for (const record of batch) {
      if (check !== undefined) {
        check(record, file);
        if (!everyRecord) check = undefined;
      }
      const line = encoder.encodeLine(record);
      if (line === undefined) continue;
      out.writeLine(line);
      linesWritten++;
    }
    drainUpTo(Infinity);
    for (const chunk of out.take()) await write(chunk);
  }
  drainUpTo(Infinity);
  for (const chunk of out.take(true)) await write(chunk);
  return linesWritten;
}
