import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { functionField, OutputFormatSchema, outputField, parseOptions, signalField, writableField } from '../options.js';
import { rowFormat } from '../output/output-stream.js';
import type { RowFormat } from '../output/row-format.js';
import { textWriter, type TextWriter } from '../output/text-writer.js';
import { resolveOutputFormat } from '../output/output-format.js';
import { ReadRecordsOptionsSchema } from '../records/read-options.js';
import { recordBatches } from '../records/record-batches.js';
import type { SourceRecord } from '../records/source-record.js';
import { ChunkJoiner, type JoinHooks } from './chunk-joiner.js';
import { createJoinPlan, JoinRecordOptionsSchema } from './join-plan.js';
import type { JoinReport } from './join-report.js';

const Files = z.array(z.string().min(1), { error: 'must be a list of file paths' });

/** Records joined at a time: their result lines are read in file order, so a shuffled results file costs a few passes. */
const JOIN_WINDOW = 1024;
/** Rows joined into one text before it is put (a few kilobytes: a long text costs more to flatten than it saves). */
const ROWS_PER_PUT = 32;

/** Options of {@link joinFiles}. */
export const JoinFilesOptionsSchema = z.object({
  ...JoinRecordOptionsSchema.shape,
  ...ReadRecordsOptionsSchema.pick({ input: true, format: true, delimiter: true, encoding: true, stdin: true }).shape,
  /** As in prepare: with 'skip', a malformed record is left out and reported through `onWarning`. */
  onInvalidRecord: ReadRecordsOptionsSchema.shape.onInvalidRecord,
  /** Batch output files (JSONL of request output objects). */
  results: z.union([z.string().min(1), Files], { error: 'must be a file path or a list of them' }).transform((v) => (typeof v === 'string' ? [v] : v)),
  /** Batch error files (same line format). */
  errors: z.union([z.string().min(1), Files], { error: 'must be a file path or a list of them' }).transform((v) => (typeof v === 'string' ? [v] : v)).default([]),
  /** A file path, `-`/omitted for `stdout`, or a Writable. */
  output: outputField().optional(),
  /** `jsonl` (default), `csv`, `tsv` or `json`; defaults from the output file's extension. */
  outputFormat: OutputFormatSchema.optional(),
  /** Where `-`/omitted output goes (default process.stdout); lets CLIs inject theirs. */
  stdout: writableField().optional(),
  onIssue: functionField<NonNullable<JoinHooks['onIssue']>>().optional(),
  onOutcome: functionField<NonNullable<JoinHooks['onOutcome']>>().optional(),
  /** Told about CSV columns that appear after the header (see `csvRowStringifier`). */
  onWarning: functionField<(message: string) => void>().optional(),
  signal: signalField().optional(),
});
/** Options of {@link joinFiles}. */
export type JoinFilesOptions = z.input<typeof JoinFilesOptionsSchema>;

/**
 * Join an input file with batch result files that ran any way (the `kbatch join` command).
 * All results form one chunk, indexed by custom_id with `indexResultFiles`: memory is ~43 bytes per result in typed
 * arrays, plus the answer of each usual successful line (read once, in the index pass, see `readVerdict`), never the
 * response bodies; other lines are re-read a window of records at a time, in file order. Rows are written in 1 MiB
 * blocks, without a stream per stage (`pnpm bench:join` prints the speed and peak RSS).
 * @returns the counts; issues (missing/unknown/duplicate) go to `onIssue` as they are found
 * @example
 * const report = await joinFiles({ input: 'reviews.csv', results: 'out.jsonl', errors: 'err.jsonl',
 *   labels: ['positive', 'negative'], output: 'labeled.csv' });
 */
export async function joinFiles(options: JoinFilesOptions): Promise<JoinReport> {
  const opts = parseOptions(JoinFilesOptionsSchema, options, 'joinFiles');
  const plan = createJoinPlan({
    labels: opts.labels,
    schema: opts.schema,
    confidence: opts.confidence,
    idColumn: opts.idColumn,
    customId: opts.customId,
    prefix: opts.prefix,
    keepRaw: opts.keepRaw,
  });
  const toStdout = opts.output === undefined || opts.output === '-';
  const format = resolveOutputFormat(opts.outputFormat, typeof opts.output === 'string' ? opts.output : undefined);
  const sink: Writable = toStdout ? (opts.stdout ?? process.stdout) : typeof opts.output === 'string' ? createWriteStream(opts.output) : opts.output!;
  // Never end stdout: the CLI (or caller) may still write to it.
  const out = textWriter(sink, { end: !toStdout, reuse: typeof opts.output === 'string' && !toStdout });
  const rows = rowFormat({ format, columns: [...plan.columns], keepWhole: plan.rawField ? [plan.rawField] : [], onWarning: opts.onWarning });
  const joiner = new ChunkJoiner(plan, [{ requests: Infinity, files: [...opts.results, ...opts.errors] }], { onIssue: opts.onIssue, onOutcome: opts.onOutcome });
  try {
    let window: SourceRecord[] = [];
    const records = recordBatches({
      input: opts.input,
      format: opts.format,
      delimiter: opts.delimiter,
      encoding: opts.encoding,
      stdin: opts.stdin,
      onInvalidRecord: opts.onInvalidRecord,
      onReject: (r) => opts.onWarning?.(`skipped record ${r.record} (${r.file} line ${r.line}): ${r.reason}`),
    });
    for await (const batch of records) {
      throwIfAborted(opts.signal);
      for (let i = 0; i < batch.length; i++) window.push(batch[i]!);
      if (window.length < JOIN_WINDOW) continue;
      await joinWindow(joiner, window, { out, rows });
      window = [];
    }
    throwIfAborted(opts.signal);
    await joinWindow(joiner, window, { out, rows });
    const report = await joiner.finish();
    out.put(rows.end());
    await out.end();
    return report;
  } catch (err) {
    // The rows joined before the error are written (they wait in the writer's block, see `joinWindow`).
    await out.flush().catch(() => {});
    await out.destroy();
    throw err;
  } finally {
    await joiner.close();
  }
}

/**
 * Join a window of records (their result lines read together, see `ChunkJoiner.expect`) and write their rows. A failing
 * record throws after the rows before it are written, as a stream would have passed them on.
 */
async function joinWindow(joiner: ChunkJoiner, records: readonly SourceRecord[], write: { out: TextWriter; rows: RowFormat }): Promise<void> {
  const { out, rows } = write;
  const ids = joiner.expect(records);
  // Rows are put a few at a time: one copy into the writer's block per ROWS_PER_PUT rows, of a string that stays small.
  let text = '';
  try {
    for (let i = 0; i < records.length; i++) {
      text += rows.row((joiner.joinNow(records[i]!, ids[i]) ?? (await joiner.join(records[i]!, ids[i]))).row);
      if (i % ROWS_PER_PUT === ROWS_PER_PUT - 1) {
        out.put(text);
        text = '';
      }
    }
  } catch (err) {
    out.put(text);
    await out.flush().catch(() => {});
    throw err;
  }
  out.put(text);
  // Full blocks only go to the sink (one write a megabyte, not one a window); the wait is for its backpressure.
  await out.pace();
}

/** Stop as a pipeline given `signal` stops: an AbortError whose cause is the signal's reason. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
