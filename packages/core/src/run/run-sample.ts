// A run's sample: drawn once from its input and kept in the job directory, so every read and every resume takes the same records.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../internal/write-json-atomic.js';
import { drawSample, type SampleDraw } from '../records/sample-records.js';
import type { RunSettings } from '../state/run-state.js';

/** The job directory's drawn sample (`RunJobOptions.sample`). */
export const SAMPLE_FILE = 'sample.json';

/** What a run's summary says of its sample. */
export interface SampleSummary {
  /** Records taken. */
  size: number;
  /** Records in the input. */
  of: number;
  seed: number;
  stratify: string | null;
}

/**
 * The run's sample: the one saved in the job directory when it was drawn with the run's spec, else drawn from the
 * input (deterministic: the same input and spec take the same records) and saved before anything is prepared.
 */
export async function runSample(jobDir: string, settings: RunSettings, signal?: AbortSignal): Promise<SampleDraw> {
  const spec = settings.sample!;
  const file = join(jobDir, SAMPLE_FILE);
  const saved = await readFile(file, 'utf8').then((text) => JSON.parse(text) as SampleDraw, () => null);
  if (saved !== null && JSON.stringify(saved.spec) === JSON.stringify(spec)) return saved;
  const draw = await drawRunSample(settings, signal);
  await writeJsonAtomic(file, draw);
  return draw;
}

/** Draw the run's sample from its input as the run reads it (nothing saved: `estimateJob` uses it as it is). */
export async function drawRunSample(settings: RunSettings, signal?: AbortSignal): Promise<SampleDraw> {
  const read = {
    input: settings.input,
    format: settings.format,
    ...(settings.delimiter ? { delimiter: settings.delimiter } : {}),
    ...(settings.encoding ? { encoding: settings.encoding } : {}),
    onInvalidRecord: settings.onInvalidRecord,
    signal,
  };
  return drawSample(read, settings.sample!);
}

/** The summary's `sample`. */
export function sampleSummary(draw: SampleDraw): SampleSummary {
  return { size: draw.size, of: draw.of, seed: draw.spec.seed, stratify: draw.spec.stratify ?? null };
}

/** "sample of 50 rows out of 30,000 (seed 42, stratified by lang)" */
export function formatSample(s: SampleSummary): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  return `sample of ${n(s.size)} row${s.size === 1 ? '' : 's'} out of ${n(s.of)} (seed ${s.seed}${s.stratify !== null ? `, stratified by ${s.stratify}` : ''})`;
}
