import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { EvaluateOptionsSchema } from '../eval/eval-options.js';
import { nonEmptyField, outputField, parseOptions } from '../options.js';
import { ReadRecordsOptionsSchema } from '../records/read-options.js';
import { recordBatches } from '../records/record-batches.js';
import { readJobFacts, type JobFacts } from './job-facts.js';
import type { ReportData } from './report-data.js';
import { renderHtml } from './report-html.js';
import { reportSections } from './report-sections.js';
import { reportTally } from './report-tally.js';

/** Options of {@link writeReport}: the evaluation's columns (gold optional), how to read an OUTPUT file, and where the page goes. */
export const WriteReportOptionsSchema = EvaluateOptionsSchema.pick({ labels: true, targetAccuracy: true })
  .extend({
    /** The gold column (default: a JOB_DIR's eval.json or run `gold` option; none: no accuracy, confusion or calibration). */
    gold: EvaluateOptionsSchema.shape.gold.optional(),
    /** The prediction column (default: `PREFIXlabel`, or each model's `ALIAS.PREFIXlabel` in a several-models output). */
    pred: nonEmptyField('must be a column name (the predicted label)', 'must be a non-empty column name (the predicted label)').optional(),
    /** The prefix given to run/join (default: a JOB_DIR's, else none). */
    prefix: z.string({ error: 'must be a string' }).optional(),
    ...ReadRecordsOptionsSchema.pick({ format: true, delimiter: true, encoding: true, stdin: true }).shape,
    /** Where the HTML goes: a path (written whole through a temp file), `-` for stdout, or a Writable. */
    out: outputField().default('report.html'),
  })
  .strict();
/** Options of {@link writeReport}. */
export type WriteReportOptions = z.input<typeof WriteReportOptionsSchema>;
type Resolved = z.output<typeof WriteReportOptionsSchema>;

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  /** The file written (absolute), null for `-` or a Writable. */
  out: string | null;
  bytes: number;
  /** The figures the page shows (its `evaluate()` figures are what `kbatch eval --json` prints). */
  data: ReportData;
}

/**
 * Write one self-contained HTML report (charts drawn by the inlined vega; no network request) of a job directory
 * (its output rows, batches, spend and eval.json) or of a joined OUTPUT file (JSONL, CSV/TSV or a JSON array).
 * The output rows are read once, streaming.
 * @throws KbatchError INPUT_NOT_FOUND, JOB_INVALID, EVAL_COLUMN_MISSING, EVAL_TOO_MANY_LABELS, RECORD_INVALID, OPTION_INVALID
 * @example await writeReport('.kbatch/jobs/kb-20261205-1', { gold: 'sentiment', out: 'report.html' })
 */
export async function writeReport(job: string, options: WriteReportOptions = {}): Promise<WrittenReport> {
  const opts = parseOptions(WriteReportOptionsSchema, options, 'writeReport');
  const data = await gatherReport(job, opts);
  const layout = reportSections(data);
  const { compile } = await import('vega-lite');
  const charts = Object.fromEntries(Object.entries(layout.specs).map(([id, spec]) => [id, compile(spec).spec]));
  const html = renderHtml({ data, sections: layout.sections, charts, vegaSource: await vegaSource() });
  return { out: await writeOut(opts.out, html), bytes: Buffer.byteLength(html), data };
}

async function gatherReport(job: string, opts: Resolved): Promise<ReportData> {
  const isJob = job !== '-' && (await stat(job).catch(() => null))?.isDirectory() === true;
  const facts: JobFacts | null = isJob ? await readJobFacts(job) : null;
  const input = isJob ? facts!.output : job;
  const gold = opts.gold ?? facts?.gold;
  const tally = reportTally({ gold, pred: opts.pred, prefix: opts.prefix ?? facts?.prefix ?? '', labels: opts.labels ?? facts?.labels, targetAccuracy: opts.targetAccuracy });
  if (input !== null) {
    const format = opts.format ?? (facts?.outputFormat as Resolved['format']);
    for await (const batch of recordBatches({ input, format, delimiter: opts.delimiter ?? facts?.delimiter, encoding: opts.encoding, stdin: opts.stdin })) {
      for (const record of batch) tally.add(record.data, { record: record.index, line: record.line, file: input });
    }
  }
  return {
    source: job,
    output: input,
    generatedAt: new Date().toISOString(),
    gold: gold ?? null,
    ...tally.result(),
    timeline: facts?.timeline ?? null,
    spend: facts?.spend ?? null,
  };
}

// vega's minified browser build (its package exports only the ESM entry, which sits beside it).
async function vegaSource(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve('vega');
  return readFile(join(dirname(entry), 'vega.min.js'), 'utf8');
}

async function writeOut(out: string | Writable, html: string): Promise<string | null> {
  if (typeof out !== 'string' || out === '-') {
    const sink = typeof out === 'string' ? process.stdout : out;
    await new Promise<void>((done, fail) => sink.write(html, (err) => (err ? fail(err) : done())));
    return null;
  }
  const path = resolve(out);
  // Written whole then renamed: a reader never opens half a report.
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temp, html);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return path;
}
