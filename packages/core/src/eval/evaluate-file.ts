import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions, outputField } from '../options.js';
import { textWriter, type TextWriter } from '../output/text-writer.js';
import { rowFormat } from '../output/output-stream.js';
import { csvRowFormat } from '../output/csv-row-stringifier.js';
import type { InputFormat } from '../records/source-record.js';
import type { RowFormat } from '../output/row-format.js';
import { ReadRecordsOptionsSchema } from '../records/read-options.js';
import { detectFormat } from '../records/detect-format.js';
import { recordBatches } from '../records/record-batches.js';
import { EvaluateOptionsSchema } from './eval-options.js';
import type { EvalResult } from './eval-result.js';
import { evalAccumulator } from './eval-accumulator.js';
import { checkHeader } from './row-verdict.js';

/** Options of {@link evaluateFile}: the evaluation's, how to read the output file, and where disagreements go. */
export const EvaluateFileOptionsSchema = EvaluateOptionsSchema.extend({
  ...ReadRecordsOptionsSchema.pick({ input: true, format: true, delimiter: true, encoding: true, stdin: true }).shape,
  /** Write the scored rows whose prediction differs from gold here, in the input's format (path or Writable). */
  disagreements: outputField().optional(),
}).strict();
/** Options of {@link evaluateFile}. */
export type EvaluateFileOptions = z.input<typeof EvaluateFileOptionsSchema>;

/**
 * Evaluate a joined output file (JSONL, CSV/TSV or a JSON array; `-` reads `stdin`), streaming it once.
 * A CSV header without the gold, prediction or `by` column fails before any row is read, naming the header's columns.
 * @returns the figures `kbatch eval --json` prints
 * @throws KbatchError EVAL_COLUMN_MISSING, EVAL_TOO_MANY_LABELS, EVAL_TOO_MANY_GROUPS, RECORD_INVALID, INPUT_NOT_FOUND, OPTION_INVALID (also when
 *   `disagreements` is the input file, also through a symlink or hard link)
 * @example await evaluateFile({ input: 'labeled.csv', gold: 'sentiment', disagreements: 'wrong.csv' })
 */
export async function evaluateFile(options: EvaluateFileOptions): Promise<EvalResult> {
  const { input, format, delimiter, encoding, stdin, disagreements, ...evalOptions } = parseOptions(EvaluateFileOptionsSchema, options, 'evaluateFile');
  const acc = evalAccumulator(evalOptions);
  // The file name and format as the reader sees them (a stream or `-` needs `format`).
  const file = typeof input === 'string' ? input : '-';
  const inputFormat = format ?? detectFormat(file);
  if (typeof disagreements === 'string' && typeof input === 'string' && input !== '-' && (await sameFile(disagreements, input))) {
    throw new KbatchError('OPTION_INVALID', `Invalid option \`disagreements\`: must not be the input file, got ${JSON.stringify(disagreements)}`, { field: 'disagreements' });
  }
  // A path gets the rows through a temp file renamed at the end: an error leaves no half-written file behind.
  const temp = typeof disagreements === 'string' ? `${disagreements}.${process.pid}.${randomBytes(4).toString('hex')}.tmp` : null;
  let header: string[] = [];
  const onHeader = (columns: string[], line: number): void => {
    header = columns;
    checkHeader(columns, evalOptions, { record: 0, line, file });
  };
  let out: { format: RowFormat; writer: TextWriter } | null = null;
  const open = (): { format: RowFormat; writer: TextWriter } => {
    const toPath = temp !== null;
    const sink = toPath ? createWriteStream(temp) : (disagreements as Writable);
    return { format: sameFormat(inputFormat, header, delimiter), writer: textWriter(sink, { end: toPath, reuse: toPath }) };
  };
  try {
    for await (const batch of recordBatches({ input, format, delimiter, encoding, stdin, onHeader })) {
      for (const record of batch) {
        const verdict = acc.add(record.data, { record: record.index, line: record.line, file });
        if (disagreements === undefined || !verdict.scored || verdict.correct) continue;
        out ??= open();
        out.writer.put(out.format.row(record.data));
      }
      await out?.writer.flush();
    }
    if (disagreements !== undefined) {
      out ??= open();
      out.writer.put(out.format.end());
      await out.writer.end();
      if (temp !== null) await rename(temp, disagreements as string);
    }
  } catch (err) {
    await out?.writer.destroy();
    if (temp !== null) await rm(temp, { force: true });
    throw err;
  }
  return acc.result();
}

/** The same file by device and inode when both exist (a symlink or hard link to the input too), else by real path. */
export async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  if (sa !== null && sb !== null) return sa.dev === sb.dev && sa.ino === sb.ino;
  const real = async (p: string): Promise<string> => join(await realpath(dirname(resolve(p))).catch(() => dirname(resolve(p))), basename(p));
  return (await real(a)) === (await real(b));
}

// The input's format, CSV with the input's header and delimiter.
function sameFormat(format: InputFormat, header: string[], delimiter: string | undefined): RowFormat {
  if (format === 'jsonl' || format === 'json') return rowFormat({ format });
  return csvRowFormat({ columns: header, delimiter: delimiter ?? (format === 'tsv' ? '\t' : ',') });
}
