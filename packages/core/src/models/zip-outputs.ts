// N sub-jobs' outputs (JSON Lines, one row per record in input order) zipped into one row per record.
import { createReadStream } from 'node:fs';
import { KbatchError } from '../errors.js';
import { LineSplitter } from '../internal/line-splitter.js';
import type { JoinedRow } from '../join/skipped-rows.js';

/** One model's output: its field prefix and its rows' file. */
export interface ModelOutput {
  alias: string;
  /** JSON Lines written by the model's sub-job, one row per input record, in input order. */
  file: string;
}

/** Options of {@link zipOutputs}. */
export interface ZipOptions {
  models: readonly ModelOutput[];
  /** The fields a join adds (the sub-jobs' join plan `fields`): they go under `ALIAS.`; the others are the input's. */
  added: readonly string[];
  /** The added field holding a record's error (null when it succeeded). */
  errorField: string;
  /** The added field holding a record's custom_id (default `custom_id`): a row's models must agree on it. */
  customIdField?: string;
  /** Rows per yielded batch. */
  batchSize?: number;
}

/**
 * The combined rows, batch by batch: each record's input fields once (from the first model's row), then each model's
 * added fields under `ALIAS.`. Reads the N files in step, a block at a time (constant memory).
 * @throws KbatchError JOB_INVALID when one output has more rows than another (a sub-job's output is not its job's), or
 *   when a row's models give different custom_ids (outputs not in the same record order)
 */
export async function* zipOutputs(options: ZipOptions): AsyncGenerator<JoinedRow[], number, undefined> {
  const added = new Set(options.added);
  const renames = options.models.map(({ alias }) => new Map(options.added.map((name) => [name, `${alias}.${name}`])));
  const readers = options.models.map((m) => rowReader(m.file));
  const size = options.batchSize ?? 512;
  let rows = 0;
  try {
    for (;;) {
      const batch: JoinedRow[] = [];
      while (batch.length < size) {
        const parts = await Promise.all(readers.map((r) => r.next()));
        const ended = parts.filter((p) => p === undefined).length;
        if (ended === parts.length) break;
        if (ended > 0) throw outOfStep(options.models, parts, rows);
        batch.push(combine(parts as Record<string, unknown>[], { added, renames, errorField: options.errorField, customIdField: options.customIdField ?? 'custom_id', models: options.models, row: rows + batch.length + 1 }));
      }
      rows += batch.length;
      if (batch.length > 0) yield batch;
      if (batch.length < size) return rows;
    }
  } finally {
    for (const r of readers) r.close();
  }
}

/** What {@link combine} needs besides the parts: the zip's settings, and the row's number (from 1) for errors. */
interface CombineContext {
  added: Set<string>;
  renames: Map<string, string>[];
  errorField: string;
  customIdField: string;
  models: readonly ModelOutput[];
  row: number;
}

/** One record's combined row: the input's fields, then each model's added fields renamed; failed when any model failed. */
function combine(parts: Record<string, unknown>[], at: CombineContext): JoinedRow {
  checkSameRecord(parts, at);
  const row: Record<string, unknown> = {};
  for (const key in parts[0]!) if (!at.added.has(key)) row[key] = parts[0]![key];
  let failed = false;
  parts.forEach((part, i) => {
    const renames = at.renames[i]!;
    for (const key in part) {
      const name = renames.get(key);
      if (name !== undefined) row[name] = part[key];
    }
    if (part[at.errorField] != null && part[at.errorField] !== '') failed = true;
  });
  return { row, status: failed ? 'failed' : 'succeeded', customId: null };
}

/** Every model's part of a row answers the same record: a misaligned zip must never be written. */
function checkSameRecord(parts: Record<string, unknown>[], at: CombineContext): void {
  let first = -1;
  parts.forEach((part, i) => {
    const id = part[at.customIdField];
    if (id == null) return;
    if (first < 0) first = i;
    else if (id !== parts[first]![at.customIdField]) {
      const [a, b] = [at.models[first]!, at.models[i]!];
      throw new KbatchError('JOB_INVALID', `row ${at.row} of the models' outputs pairs different records: ${a.alias} has custom_id ${JSON.stringify(parts[first]![at.customIdField])} (${a.file}), ${b.alias} has ${JSON.stringify(id)} (${b.file}); run the job again`, { file: b.file, customId: String(id) });
    }
  });
}

function outOfStep(models: readonly ModelOutput[], parts: Array<Record<string, unknown> | undefined>, rows: number): KbatchError {
  const short = models.filter((_, i) => parts[i] === undefined).map((m) => m.file);
  return new KbatchError('JOB_INVALID', `the models' outputs differ in length: ${short.join(', ')} ended after ${rows} rows while another has more; run the job again`, { file: short[0]! });
}

/** Parsed rows of a JSON Lines file, one at a time (a block of lines read ahead). */
function rowReader(file: string): { next(): Promise<Record<string, unknown> | undefined>; close(): void } {
  const stream = createReadStream(file, { highWaterMark: 1 << 16 });
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const splitter = new LineSplitter();
  let lines: Buffer[] = [];
  let at = 0;
  let done = false;
  return {
    async next() {
      for (;;) {
        while (at < lines.length) {
          const line = lines[at++]!;
          if (line.length > 0) return JSON.parse(line.toString('utf8')) as Record<string, unknown>;
        }
        if (done) return undefined;
        const chunk = await chunks.next();
        at = 0;
        if (chunk.done) {
          done = true;
          lines = splitter.end();
        } else lines = splitter.push(chunk.value);
      }
    },
    close: () => stream.destroy(),
  };
}
