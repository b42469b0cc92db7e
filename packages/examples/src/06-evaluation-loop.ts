// The labeling loop on reviews that carry a hand-made gold label (`sentiment`): try the prompt on a stratified sample
// with `gold`, read the figures (the run's own and `evaluateFile`'s agree), run the whole set, then write the HTML
// report. Offline: the emulator answers; drop `baseURL` and set KLUSTER_API_KEY to run it on kluster.ai.
// Asserts the sample's size and strata, that the run, `evaluateFile` and the report give the same figures, and that
// the report is one self-contained page.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, evaluateFile, recordStream, runJob, writeReport, type RunJobOptions, type SourceRecord } from '@kbatch/core';
import { startEmulator } from '@kbatch/emulator';
import { dataPath } from './shared.js';

const LABELS = ['positive', 'negative', 'neutral'];

const dir = await mkdtemp(join(tmpdir(), 'kbatch-example-06-'));
const emulator = await startEmulator({ seed: 6, timeScale: 0.001, validationMs: 10, lineMs: 1, finalizingMs: 10 });
try {
  const job = (name: string): RunJobOptions => ({
    input: dataPath('reviews.csv'),
    model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo',
    prompt: 'Classify the sentiment of this review as positive, negative or neutral.\n\nReview: {{text}}',
    labels: LABELS,
    logprobs: true, // a confidence per label: calibration and accuracy at each coverage
    gold: 'sentiment',
    output: join(dir, `${name}.jsonl`),
    jobDir: join(dir, `job-${name}`),
    client: createClient({ apiKey: 'demo', baseURL: emulator.baseURL }),
    pollIntervalMs: 50,
    cache: false,
  });

  // 1. A stratified sample of 12 of the 30 reviews, the same 12 for the same seed.
  const tried = await runJob({ ...job('sample'), sample: { size: 12, seed: 7, stratify: 'sentiment' } });
  assert.deepEqual({ size: tried.sample?.size, of: tried.sample?.of }, { size: 12, of: 30 }, 'a sample of 12 reviews out of 30');
  const sampled = await rows(join(dir, 'sample.jsonl'));
  assert.equal(sampled.length, 12, 'one row per sampled review');
  assert.deepEqual(new Set(sampled.map((r) => r['sentiment'])), new Set(LABELS), 'every gold label is in the stratified sample');
  assert.equal(tried.eval?.n, 12, 'the run evaluated every sampled row');

  // 2. The run's figures are the ones `kbatch eval` gives for its output.
  const evaluated = await evaluateFile({ input: join(dir, 'sample.jsonl'), gold: 'sentiment', labels: LABELS });
  assert.deepEqual(evaluated, tried.eval, 'the run and evaluateFile agree on every figure of the sample');

  // 3. The whole set.
  const full = await runJob(job('full'));
  assert.equal(full.records, 30);
  assert.equal((await rows(join(dir, 'full.jsonl'))).length, 30, 'one row per review');
  assert.equal(full.eval?.n, 30);
  assert.ok(full.eval?.calibration, 'the answers carry a confidence, so the figures include calibration');

  // 4. The report of the full job: the same figures, one page that asks for nothing from the network.
  const report = await writeReport(join(dir, 'job-full'), { out: join(dir, 'report.html') });
  assert.deepEqual(report.data.models[0]?.eval, full.eval, 'the report shows the run’s figures');
  const html = await readFile(join(dir, 'report.html'), 'utf8');
  assert.match(html, /default-src 'none'/, 'the page forbids every request');
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/i, 'every script and style is inlined');

  const pct = (x: number | null | undefined): string => (x == null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  console.log(`sample of ${tried.sample?.size}/${tried.sample?.of}: accuracy ${pct(tried.eval?.accuracy)}; ` +
    `full set: accuracy ${pct(full.eval?.accuracy)}, macro-F1 ${pct(full.eval?.macro_f1)}, kappa ${full.eval?.kappa?.toFixed(3)}, ` +
    `calibration error ${full.eval?.calibration?.ece?.toFixed(3)}; ` +
    `report ${(report.bytes / 1024).toFixed(0)} KB`);
} finally {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}

async function rows(path: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const { data } of recordStream({ input: path }) as AsyncIterable<SourceRecord>) out.push(data);
  return out;
}
