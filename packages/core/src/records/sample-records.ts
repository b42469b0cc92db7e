// Samples of an input's records: which record numbers a run reads, deterministic for an input and a seed.
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { nonEmptyField } from '../options.js';
import { recordBatches } from './record-batches.js';
import type { ReadRecordsOptions } from './read-options.js';

/** The seed of a sample when none is given (so `--sample 50` twice takes the same 50 records). */
export const DEFAULT_SEED = 42;
/** Most records a count sample takes: its record numbers are held in memory (8 bytes each) while it is drawn and read. */
export const MAX_SAMPLE_SIZE = 1_000_000;
/** Most distinct values of a `stratify` column (each keeps its own counts; more means an id column, not a category). */
export const MAX_STRATA = 1000;

const FRACTION_ERROR = 'must be a fraction between 0 and 1 (exclusive)';

/** A sample of the input: `size` records (reservoir) or each record with probability `fraction` (Bernoulli). */
export const SampleOptionsSchema = z
  .object({
    /** How many records (at most {@link MAX_SAMPLE_SIZE}); all of them when the input has fewer. */
    size: z
      .number({ error: 'must be a whole number of records' })
      .int({ error: 'must be a whole number of records' })
      .min(1, { error: 'must be at least 1' })
      .max(MAX_SAMPLE_SIZE, { error: `must be at most 1,000,000 records (for a larger sample give a fraction)` })
      .optional(),
    /** Each record is taken with this probability (0 < fraction < 1). */
    fraction: z.number({ error: FRACTION_ERROR }).gt(0, { error: FRACTION_ERROR }).lt(1, { error: FRACTION_ERROR }).optional(),
    /** Seed of the draws (a whole number 0..4294967295; default {@link DEFAULT_SEED}). */
    seed: z
      .number({ error: 'must be a whole number from 0 to 4294967295' })
      .int({ error: 'must be a whole number from 0 to 4294967295' })
      .min(0, { error: 'must be a whole number from 0 to 4294967295' })
      .max(0xffffffff, { error: 'must be a whole number from 0 to 4294967295' })
      .default(DEFAULT_SEED),
    /** Sample each value of this column apart, in proportion to its records, at least one record per value present. */
    stratify: nonEmptyField('must be a column name', 'must be a non-empty column name').optional(),
  })
  .strict()
  .refine((s) => (s.size === undefined) !== (s.fraction === undefined), { error: 'must give exactly one of `size` and `fraction`' });

/** A sample as given. */
export type SampleOptions = z.input<typeof SampleOptionsSchema>;
/** A sample with its seed. */
export type ResolvedSampleOptions = z.output<typeof SampleOptionsSchema>;

/** A drawn sample: what a run stores in its job directory, so every read (and a resume) takes the same records. */
export interface SampleDraw {
  spec: ResolvedSampleOptions;
  /** Records in the input (rejected ones included: record numbers count them). */
  of: number;
  /** Records taken. */
  size: number;
  /** Size samples: the record numbers taken, ascending. */
  picked?: number[];
  /** Stratified fractions: the record numbers added so that each value has one. */
  extras?: number[];
}

/**
 * The draw of record `n` (1-based) under `seed`: a uniform number in [0, 1) from mulberry32's outputs 2n-1 and 2n
 * (its state after k steps is seed + k·0x6D2B79F5, computed directly). A record's draw depends only on the seed and
 * its number, never on which records were read before it.
 */
export function recordDraw(seed: number, n: number): number {
  const hi = mulberry32At(seed, 2 * n - 1);
  const lo = mulberry32At(seed, 2 * n);
  return (hi * 2 ** 21 + (lo >>> 11)) / 2 ** 53;
}

function mulberry32At(seed: number, k: number): number {
  let t = (seed + Math.imul(k | 0, 0x6d2b79f5)) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** Which record numbers a draw takes: a binary search of the picked numbers, or the record's own draw (constant memory). */
export function sampleFilter(draw: SampleDraw): (record: number) => boolean {
  const { spec } = draw;
  if (draw.picked !== undefined) {
    const picked = Float64Array.from(draw.picked);
    return (record) => {
      let lo = 0;
      let hi = picked.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const v = picked[mid]!;
        if (v === record) return true;
        if (v < record) lo = mid + 1;
        else hi = mid - 1;
      }
      return false;
    };
  }
  const extras = new Set(draw.extras ?? []);
  const fraction = spec.fraction!;
  return (record) => recordDraw(spec.seed, record) < fraction || extras.has(record);
}

/** How the sample reads its input (a path: it is read once or twice, never held). */
export type SampleReadOptions = Pick<ReadRecordsOptions, 'format' | 'delimiter' | 'encoding' | 'onInvalidRecord'> & { input: string; signal?: AbortSignal | undefined };

/**
 * Draw a sample of a file's records, streaming: a size sample keeps a reservoir of record numbers (Algorithm R, one
 * pass; stratified: a pass to count each value, then a reservoir per value with its share); a fraction takes each
 * record whose draw is below it (stratified: plus the lowest draw of a value that got none).
 * A JSON record without the `stratify` column is in the value "" (as null).
 * @throws KbatchError SAMPLE_TOO_MANY_STRATA, SAMPLE_COLUMN_MISSING (a CSV header without the `stratify` column), and the read's errors (INPUT_NOT_FOUND, a malformed record with `onInvalidRecord: 'error'`)
 */
export async function drawSample(read: SampleReadOptions, options: SampleOptions): Promise<SampleDraw> {
  const spec = SampleOptionsSchema.parse(options);
  if (spec.fraction !== undefined) return drawFraction(read, spec);
  if (spec.stratify === undefined) {
    const reservoir = reservoirOf(spec.size!, spec.seed);
    const of = await eachRecord(read, (n) => reservoir.offer(n));
    return done(spec, of, reservoir.picked());
  }
  const counts = new Map<string, number>();
  const of = await eachRecord(read, (_, value) => void counts.set(value, (counts.get(value) ?? 0) + 1), spec.stratify, spec.stratify);
  const quotas = shares(counts, spec.size!);
  const reservoirs = new Map([...quotas].map(([value, quota]) => [value, reservoirOf(quota, spec.seed)]));
  await eachRecord(read, (n, value) => reservoirs.get(value)!.offer(n), spec.stratify);
  return done(spec, of, [...reservoirs.values()].flatMap((r) => r.picked()));
}

function done(spec: ResolvedSampleOptions, of: number, picked: number[]): SampleDraw {
  picked.sort((a, b) => a - b);
  return { spec, of, size: picked.length, picked };
}

async function drawFraction(read: SampleReadOptions, spec: ResolvedSampleOptions): Promise<SampleDraw> {
  const fraction = spec.fraction!;
  let size = 0;
  // Per value: records taken, and the record with the lowest draw (taken when the value got none).
  const strata = new Map<string, { taken: number; lowest: number; draw: number }>();
  const of = await eachRecord(
    read,
    (n, value) => {
      const u = recordDraw(spec.seed, n);
      if (u < fraction) size++;
      if (spec.stratify === undefined) return;
      const s = strata.get(value) ?? { taken: 0, lowest: n, draw: u };
      if (u < fraction) s.taken++;
      if (u < s.draw) Object.assign(s, { lowest: n, draw: u });
      strata.set(value, s);
    },
    spec.stratify,
    spec.stratify,
  );
  const extras = [...strata.values()].filter((s) => s.taken === 0).map((s) => s.lowest).sort((a, b) => a - b);
  return { spec, of, size: size + extras.length, ...(spec.stratify !== undefined ? { extras } : {}) };
}

/** Algorithm R over record numbers: the first `size` are kept, then record k replaces slot j < size for j = ⌊draw·k⌋. */
function reservoirOf(size: number, seed: number): { offer(n: number): void; picked(): number[] } {
  const kept: number[] = [];
  let seen = 0;
  return {
    offer(n) {
      seen++;
      if (kept.length < size) kept.push(n);
      else {
        const j = Math.floor(recordDraw(seed, n) * seen);
        if (j < size) kept[j] = n;
      }
    },
    picked: () => kept,
  };
}

/**
 * Each value's share of `size`, in proportion to its records (largest remainders, ties by value), at least one per
 * value present and at most its records; when the minimums overshoot, the ones above one give back (largest first,
 * pass after pass) until the total fits: it exceeds `size` only when there are more values than `size`.
 */
export function shares(counts: ReadonlyMap<string, number>, size: number): Map<string, number> {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const values = [...counts.keys()].sort();
  const exact = new Map(values.map((v) => [v, (size * counts.get(v)!) / total]));
  const quota = new Map(values.map((v) => [v, Math.min(counts.get(v)!, Math.max(1, Math.floor(exact.get(v)!)))]));
  const sum = (): number => [...quota.values()].reduce((a, b) => a + b, 0);
  const byRemainder = [...values].sort((a, b) => exact.get(b)! - Math.floor(exact.get(b)!) - (exact.get(a)! - Math.floor(exact.get(a)!)) || (a < b ? -1 : 1));
  for (let left = Math.min(size, total) - sum(), added = true; left > 0 && added; ) {
    added = false;
    for (const v of byRemainder) {
      if (left === 0 || quota.get(v)! === counts.get(v)!) continue;
      quota.set(v, quota.get(v)! + 1);
      left--;
      added = true;
    }
  }
  // Pass after pass (largest first) until the sample fits, or every value is down to its one record.
  for (let over = sum() - size, gave = true; over > 0 && gave; ) {
    gave = false;
    for (const v of [...values].sort((a, b) => quota.get(b)! - quota.get(a)!)) {
      if (over === 0 || quota.get(v)! <= 1) continue;
      quota.set(v, quota.get(v)! - 1);
      over--;
      gave = true;
    }
  }
  return quota;
}

/** Visit every record number in read order (rejected ones too), with its `column` value as text; returns how many. */
async function eachRecord(read: SampleReadOptions, visit: (n: number, value: string) => void, column?: string, countStrata?: string): Promise<number> {
  let of = 0;
  const strata = new Set<string>();
  const value = (data: Record<string, unknown> | undefined): string => {
    if (column === undefined) return '';
    const cell = data?.[column];
    const text = cell === null || cell === undefined ? '' : typeof cell === 'string' ? cell : JSON.stringify(cell);
    if (countStrata !== undefined && !strata.has(text)) {
      if (strata.size === MAX_STRATA) {
        throw new KbatchError('SAMPLE_TOO_MANY_STRATA', `${read.input}: more than ${MAX_STRATA} distinct values in the --stratify column "${column}"; is it a category?`, { file: read.input, field: column });
      }
      strata.add(text);
    }
    return text;
  };
  const { signal, ...options } = read;
  const onHeader = (columns: string[], line: number): void => {
    if (column === undefined || columns.includes(column)) return;
    throw new KbatchError('SAMPLE_COLUMN_MISSING', `${read.input} line ${line} (header) has no column "${column}" (--stratify); its columns are: ${columns.join(', ')}`, { file: read.input, line, field: column });
  };
  for await (const batch of recordBatches({ ...options, onHeader, onReject: (r) => (of++, visit(r.record, value(r.data ?? undefined))) })) {
    if (signal?.aborted) throw new KbatchError('ABORTED', 'the sample was aborted', { cause: signal.reason });
    for (const record of batch) {
      of++;
      visit(record.index, value(record.data));
    }
  }
  return of;
}
