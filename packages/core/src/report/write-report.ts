import { readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { EvaluateOptionsSchema } from '../eval/eval-options.js';
import { sameFile } from '../eval/evaluate-file.js';
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
 * (its output rows, batches, spend and eval.json; a several-models job's combined output and each model's batches)
 * or of a joined OUTPUT file (JSONL, CSV/TSV or a JSON array). The output rows are read once, streaming. Its
 * figures are `kbatch eval --json`'s (with `--prefix ALIAS.` for each model of a several-models output).
 * @throws KbatchError JOB_NOT_FOUND (a directory that holds no job), INPUT_NOT_FOUND (no such OUTPUT, or a job whose
 *   output went to stdout), JOB_INVALID, EVAL_COLUMN_MISSING, EVAL_TOO_MANY_LABELS, RECORD_INVALID, OPTION_INVALID
 *   (a bad option; `out` naming the rows read or a file of the job; `pred` the gold column)
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
  // A job not made by run (no run.json) has batches but no output file to read.
  const input = isJob ? facts!.output : job;
  await checkOut(opts.out, { input, jobDir: isJob ? job : null });
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

/**
 * The page must not replace what it reports on: the rows read (also through a symlink or hard link) or a file of the
 * job directory (its state, chunks, results, sub-jobs); a top-level `.html` file there is the report's own.
 */
async function checkOut(out: Resolved['out'], at: { input: string | null; jobDir: string | null }): Promise<void> {
  if (typeof out !== 'string' || out === '-') return;
  const invalid = (reason: string): never => {
    throw new KbatchError('OPTION_INVALID', `Invalid option \`out\`: must not overwrite what the report reads, got "${out}" (${reason})`, { field: 'out', file: out });
  };
  if (at.input !== null && at.input !== '-' && (await sameFile(out, at.input))) invalid(`it is the output file read, ${at.input}`);
  if (at.jobDir === null) return;
  const real = async (p: string): Promise<string> => realpath(p).catch(async () => join(await realpath(dirname(p)).catch(() => dirname(p)), basename(p)));
  const rel = relative(await real(resolve(at.jobDir)), await real(resolve(out)));
  const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  if (rel === '' || (inside && (rel.includes(sep) || !rel.endsWith('.html')))) invalid(`it is a file of the job directory ${at.jobDir}`);
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
