import { once } from 'node:events';
import { open as openFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { KbatchError, isKbatchError } from '../errors.js';
import { functionField, parseOptions, signalField, stdinField } from '../options.js';
import { InputFormatSchema, type SourceRecord } from '../records/index.js';
import { openRecords } from './read-input.js';
import { isValidationRow } from './split.js';
import { createTrainingExampleBuilder, requireCompletionColumn, trainingExampleFields } from './to-training-example.js';
import { onInvalidSchema } from './training-stream.js';

const destination = z.union([z.string().min(1, 'must be a file path or a writable stream'), z.instanceof(Writable)], {
  error: 'must be a file path or a writable stream',
});

/** Options of {@link prepareTrainingData}. */
export const PrepareTrainingDataOptionsSchema = z
  .object({
    ...trainingExampleFields,
    /** Input file path, or `-` for `stdin` (CSV/TSV/JSONL/JSON; format from `format` or the extension). */
    input: z.string().min(1, 'must be a file path or "-"').optional(),
    /** Input format when it cannot be told from the file name. */
    format: InputFormatSchema.optional(),
    /** Stream read for `input: '-'` (default `process.stdin`). */
    stdin: stdinField().optional(),
    /** Records to use instead of `input` (any async iterable, e.g. an object-mode Readable). */
    records: z
      .custom<AsyncIterable<SourceRecord>>((v) => typeof v === 'object' && v !== null && Symbol.asyncIterator in v, {
        error: 'must be an async iterable of records',
      })
      .optional(),
    /** Training file: a path (created/overwritten) or a stream (written, not ended). */
    out: destination,
    /** Validation file; default with a path `out`: `<out without .jsonl>.validation.jsonl`. */
    validationOut: destination.optional(),
    /** Share of examples that go to the validation file, in [0, 1). Default 0 (no validation file). */
    validationSplit: z.number({ error: 'must be a number in [0, 1)' }).min(0, 'must be a number in [0, 1)').lt(1, 'must be a number in [0, 1)').default(0),
    /** Seed of the deterministic split. */
    seed: z.number({ error: 'must be an integer' }).int('must be an integer').default(1),
    onInvalid: onInvalidSchema,
    /**
     * With `onInvalid: 'skip'`: where rejected rows go as JSON lines `{row, line, reason, record | raw}`. A path is
     * only created when a row is rejected.
     */
    rejects: destination.optional(),
    /** Called for each rejected row (e.g. to log it). */
    onReject: functionField<(reject: TrainingReject) => void>().optional(),
    signal: signalField().optional(),
  })
  .refine(...requireCompletionColumn)
  .refine((o) => (o.input === undefined) !== (o.records === undefined), {
    message: 'must be given, or `records` instead (exactly one of the two)',
    path: ['input'],
  })
  .refine((o) => o.validationSplit === 0 || o.validationOut !== undefined || typeof o.out === 'string', {
    message: 'must be given when `out` is a stream and `validationSplit` > 0',
    path: ['validationOut'],
  });
export type PrepareTrainingDataOptions = z.input<typeof PrepareTrainingDataOptionsSchema>;

/** One rejected row, as written to the rejects file. */
export interface TrainingReject {
  row: number;
  line: number;
  reason: string;
  /** The record's fields (rows that parsed but made no valid example). */
  record?: Record<string, unknown>;
  /** The source text (rows the reader could not parse). */
  raw?: string;
}

/** Counts and token totals of one preparation run (tokens are estimates, see `estimateExampleTokens`). */
export interface TrainingDataSummary {
  /** Valid examples written (train + validation). */
  examples: number;
  train: { examples: number; tokens: number; file?: string };
  validation: { examples: number; tokens: number; file?: string };
  /** Estimated tokens of all written examples. */
  tokens: number;
  /** Largest example, in estimated tokens. */
  maxExampleTokens: number;
  /** Rows left out (only with `onInvalid: 'skip'`). */
  rejected: number;
  rejectsFile?: string;
}

/**
 * Records → chat-format training JSONL, streaming with backpressure: each record becomes one
 * `{"messages":[…]}` line in `out` or (seeded, deterministic per row) in `validationOut`.
 * Invalid rows fail with FINETUNE_EXAMPLE_INVALID, or with `onInvalid: 'skip'` go to `rejects`.
 * @param options - see {@link PrepareTrainingDataOptions}
 * @example
 * const summary = await prepareTrainingData({
 *   input: 'labels.csv', prompt: 'Classify: {{text}}', completionColumn: 'label',
 *   out: 'train.jsonl', validationSplit: 0.1, seed: 7, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
 * });
 */
export async function prepareTrainingData(options: PrepareTrainingDataOptions): Promise<TrainingDataSummary> {
  const opts = parseOptions(PrepareTrainingDataOptionsSchema, options, 'prepareTrainingData');
  const { prompt, system, completionColumn, model, maxTokens } = opts;
  const build = createTrainingExampleBuilder({ prompt, system, completionColumn, model, maxTokens });
  const validationOut =
    opts.validationSplit > 0 ? (opts.validationOut ?? `${(opts.out as string).replace(/\.jsonl?$/i, '')}.validation.jsonl`) : undefined;

  // Files are opened up front (rejects on first use) so an unwritable path fails before any input is read.
  const outputs: Output[] = [];
  const train = await open(opts.out, 'out', outputs);
  const validation = validationOut === undefined ? undefined : await open(validationOut, 'validationOut', outputs).catch(destroyAll(outputs));
  let rejects: Output | undefined;
  const summary: TrainingDataSummary = {
    examples: 0,
    train: { examples: 0, tokens: 0, ...(typeof opts.out === 'string' ? { file: opts.out } : {}) },
    validation: { examples: 0, tokens: 0, ...(typeof validationOut === 'string' ? { file: validationOut } : {}) },
    tokens: 0,
    maxExampleTokens: 0,
    rejected: 0,
    ...(typeof opts.rejects === 'string' ? { rejectsFile: opts.rejects } : {}),
  };

  try {
    // Rows the reader rejects arrive through a callback; they wait here (at most one read batch) until written.
    const unreadable: TrainingReject[] = [];
    const reject = async (entry: TrainingReject) => {
      summary.rejected++;
      opts.onReject?.(entry);
      if (opts.rejects === undefined) return;
      rejects ??= await open(opts.rejects, 'rejects', outputs);
      await writeLine(rejects, JSON.stringify(entry));
    };
    const records =
      opts.records ??
      openRecords({
        input: opts.input!,
        format: opts.format,
        stdin: opts.stdin,
        onInvalid: opts.onInvalid,
        onReject: (r) => unreadable.push({ row: r.record, line: r.line, reason: `row ${r.record}: ${r.reason}`, raw: r.raw }),
      });
    for await (const record of records) {
      while (unreadable.length > 0) await reject(unreadable.shift()!);
      if (opts.signal?.aborted) throw new KbatchError('ABORTED', 'preparing training data was aborted', { cause: opts.signal.reason });
      let built;
      try {
        built = build(record);
      } catch (err) {
        if (opts.onInvalid !== 'skip' || !isKbatchError(err) || err.code !== 'FINETUNE_EXAMPLE_INVALID') throw err;
        await reject({ row: record.index, line: record.line, reason: err.message, record: record.data });
        continue;
      }
      const toValidation = validation !== undefined && isValidationRow(record.index, opts.seed, opts.validationSplit);
      const side = toValidation ? summary.validation : summary.train;
      await writeLine(toValidation ? validation : train, JSON.stringify(built.example));
      side.examples++;
      side.tokens += built.tokens;
      summary.examples++;
      summary.tokens += built.tokens;
      summary.maxExampleTokens = Math.max(summary.maxExampleTokens, built.tokens);
    }
    while (unreadable.length > 0) await reject(unreadable.shift()!);
    await Promise.all(outputs.map(finish));
  } catch (err) {
    destroyAll(outputs)(err);
  }
  return summary;
}

interface Output {
  stream: Writable;
  /** We opened it (a path), so we end it; a caller's stream is only flushed. */
  owned: boolean;
  /** A write error of an owned file, rethrown by the next write (a stream error must not crash the process). */
  failure?: Error;
}

/** Open a path for writing (OPTION_INVALID naming the option when it cannot be created) or adopt a stream. */
async function open(target: string | Writable, field: string, outputs: Output[]): Promise<Output> {
  let output: Output;
  if (typeof target === 'string') {
    let handle;
    try {
      handle = await openFile(target, 'w');
    } catch (err) {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`${field}\`: cannot write ${target} (${(err as Error).message})`, {
        file: target,
        field,
        cause: err,
      });
    }
    output = { stream: handle.createWriteStream(), owned: true };
    output.stream.on('error', (err) => (output.failure ??= err));
  } else {
    output = { stream: target, owned: false };
  }
  outputs.push(output);
  return output;
}

function destroyAll(outputs: Output[]): (err: unknown) => never {
  return (err) => {
    for (const output of outputs) if (output.owned) output.stream.destroy();
    throw err;
  };
}

async function writeLine(output: Output, line: string): Promise<void> {
  if (output.failure) throw output.failure;
  if (!output.stream.write(`${line}\n`)) await once(output.stream, 'drain');
}

async function finish(output: Output): Promise<void> {
  if (output.owned) {
    if (output.failure) throw output.failure;
    await finished(output.stream.end());
  } else if (output.stream.writableNeedDrain) {
    await once(output.stream, 'drain');
  }
}
