import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { detectFormat } from './detect-format.js';
import { ReadRecordsOptionsSchema, type ReadRecordsOptions, type ResolvedReadRecordsOptions } from './read-options.js';
import { CsvRecordReader } from './csv-record-reader.js';
import { JsonlRecordReader } from './jsonl-record-reader.js';
import { jsonArrayBatches } from './json-array-batches.js';
import type { InputFormat, SourceRecord } from './source-record.js';

const HIGH_WATER_MARK = 1 << 16;

/**
 * Read records in batches (one batch per input chunk, a few thousand records at most).
 * This is the engine under `recordStream`; batch callers skip the per-record stream overhead.
 * Each call opens the input afresh, so a path can be read again (join re-reads its input).
 * @param options - see `ReadRecordsOptionsSchema`
 */
export async function* recordBatches(options: ReadRecordsOptions): AsyncGenerator<SourceRecord[]> {
  const opts = parseOptions(ReadRecordsOptionsSchema, options, 'recordBatches');
  const { keep, onReject } = opts;
  if (keep === undefined) {
    yield* readBatches(opts);
    return;
  }
  // A sample: records it does not take are dropped here, rejected ones too (they are not part of the run).
  const sampled = { ...opts, ...(onReject ? { onReject: (r: Parameters<typeof onReject>[0]) => void (keep(r.record) && onReject(r)) } : {}) };
  for await (const batch of readBatches(sampled)) {
    const kept = batch.filter((record) => keep(record.index));
    if (kept.length > 0) yield kept;
  }
}

async function* readBatches(opts: ResolvedReadRecordsOptions): AsyncGenerator<SourceRecord[]> {
  const { source, file, format } = await openInput(opts);
  if (format === 'json') {
    yield* jsonArrayBatches(source, file, opts);
    return;
  }
  const reader = format === 'jsonl' ? new JsonlRecordReader(file, opts) : new CsvRecordReader(file, opts, format);
  for await (const chunk of source as AsyncIterable<Buffer | string>) {
    const batch = reader.push(chunk);
    if (batch.length > 0) yield batch;
  }
  const last = reader.end();
  if (last.length > 0) yield last;
}

export interface OpenedInput {
  source: NodeJS.ReadableStream;
  file: string;
  format: InputFormat;
}

/** Open the input of resolved read options (internal: also used by prepareRequests). */
export async function openInput(opts: Pick<ResolvedReadRecordsOptions, 'input' | 'format' | 'fileName' | 'stdin'>): Promise<OpenedInput> {
  const { input } = opts;
  if (typeof input !== 'string') {
    const file = opts.fileName ?? '-';
    return { source: input, file, format: opts.format ?? detectFormat(file) };
  }
  if (input === '-') {
    return { source: opts.stdin ?? process.stdin, file: '-', format: opts.format ?? detectFormat('-') };
  }
  const format = opts.format ?? detectFormat(input);
  try {
    const info = await stat(input);
    if (!info.isFile() && !info.isFIFO()) throw new Error('not a file');
  } catch (cause) {
    throw new KbatchError('INPUT_NOT_FOUND', `cannot read input "${input}": no such file`, { file: input, cause });
  }
  return { source: createReadStream(input, { highWaterMark: HIGH_WATER_MARK }), file: input, format };
}
