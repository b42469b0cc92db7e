import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { functionField, OutputFormatSchema, outputField, parseOptions, signalField, writableField } from '../options.js';
import { outputStream } from '../output/output-stream.js';
import { resolveOutputFormat } from '../output/output-format.js';
import { ReadRecordsOptionsSchema } from '../records/read-options.js';
import { recordStream } from '../records/record-stream.js';
import type { JoinHooks } from './chunk-joiner.js';
import { createJoinPlan, JoinRecordOptionsSchema } from './join-plan.js';
import { emptyJoinReport, type JoinReport } from './join-report.js';
import { joinStream } from './join-stream.js';

const Files = z.array(z.string().min(1), { error: 'must be a list of file paths' });

/** Records joined at a time: their result lines are read in file order, so a shuffled results file costs a few passes. */
const JOIN_WINDOW = 8192;

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
 * All results form one chunk, indexed by custom_id with `indexResultFiles`: memory is ~43 bytes
 * per result in typed arrays, never the response bodies: records are joined a window at a time and the window's
 * result lines re-read in file order (`pnpm bench:join` prints the peak RSS).
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
  let report: JoinReport = emptyJoinReport();
  await pipeline(
    [
      recordStream({
        input: opts.input,
        format: opts.format,
        delimiter: opts.delimiter,
        encoding: opts.encoding,
        stdin: opts.stdin,
        onInvalidRecord: opts.onInvalidRecord,
        onReject: (r) => opts.onWarning?.(`skipped record ${r.record} (${r.file} line ${r.line}): ${r.reason}`),
      }),
      joinStream({
        plan,
        chunks: [{ requests: Infinity, files: [...opts.results, ...opts.errors] }],
        onIssue: opts.onIssue,
        onOutcome: opts.onOutcome,
        onReport: (r) => (report = r),
        window: JOIN_WINDOW,
      }),
      outputStream({ format, columns: [...plan.columns], keepWhole: plan.rawField ? [plan.rawField] : [], onWarning: opts.onWarning }),
      sink,
    ],
    // Never end stdout: the CLI (or caller) may still write to it.
    { signal: opts.signal, end: !toStdout },
  );
  return report;
}
