import { isAbsolute, resolve } from 'node:path';
import { Option } from 'commander';
import { writeReport, type InputFormat } from '@kbatch/core';
import { numberArg, parseLabels, withFlagNames } from '../flags/index.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

interface ReportFlags {
  out: string;
  gold?: string;
  pred?: string;
  prefix?: string;
  labels?: string;
  targetAccuracy?: number | string;
  format?: InputFormat;
  delimiter?: string;
}

// Library options set from flags of the same name (OPTION_INVALID errors then name the flag).
const REPORT_FLAG_OPTIONS = ['out', 'gold', 'pred', 'prefix', 'labels', 'targetAccuracy', 'format', 'delimiter'];

/** `kbatch report JOB_DIR|OUTPUT`: one self-contained HTML page of what a job or an output file holds. */
export const register: RegisterCommand = (program, io) => {
  program
    .command('report')
    .description('Write one self-contained HTML report (charts, no network request) of a job directory or a joined output')
    .argument('<job>', 'a job directory (its output, batches, spend; a several-models job too) or a joined output file (JSONL, CSV/TSV, JSON array), or - for stdin (with --format)')
    .option('--out <file>', 'where the HTML goes, or - for stdout (never the rows read nor a file of the job)', 'report.html')
    .option('--gold <column>', "the column holding the trusted label (default: the job's run --gold / eval.json)")
    .option('--pred <column>', 'the column holding the predicted label, read as one model (default: each model\'s ALIAS.label when there are such columns, else label)')
    .option('--prefix <prefix>', "the prefix given to run/join (default: the job's)")
    .option('--labels <list>', "comma-separated labels, matched as run --labels does (default: the job's)")
    .option('--target-accuracy <x>', 'show the lowest confidence threshold whose answers reach this accuracy (0-1)', numberArg)
    .addOption(new Option('--format <format>', 'format of the output file (default: from the extension)').choices(['csv', 'tsv', 'jsonl', 'json']))
    .option('--delimiter <char>', 'CSV field delimiter (default "," or tab for tsv)')
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch report .kbatch/jobs/kb-20261205-101500-1a2b3c --gold sentiment
  $ kbatch report labeled.csv --gold sentiment --out labeled.html

Sections: figures (accuracy, macro-F1, kappa, per label), label distribution, confusion matrix, confidence histogram
and reliability, accuracy vs coverage, models side by side, tokens and cost, batch timeline, failures by cause.
The figures are the ones kbatch eval --json prints (for each model of a several-models output, with --prefix ALIAS.).
A job whose output went to stdout has no rows to read: give the OUTPUT file you saved. A section without data says so
in one line.`,
    )
    .action(async (job: string, flags: ReportFlags) => {
      await runReport(job, flags, io);
    });
};

async function runReport(job: string, flags: ReportFlags, io: CliIo): Promise<void> {
  const path = (p: string): string => (p === '-' || isAbsolute(p) ? p : resolve(io.cwd, p));
  const written = await withFlagNames(REPORT_FLAG_OPTIONS, () =>
    writeReport(path(job), {
      out: flags.out === '-' ? io.stdout : path(flags.out),
      stdin: io.stdin,
      gold: flags.gold,
      pred: flags.pred,
      prefix: flags.prefix,
      labels: flags.labels === undefined ? undefined : parseLabels(flags.labels),
      targetAccuracy: flags.targetAccuracy as number | undefined,
      format: flags.format,
      delimiter: flags.delimiter?.replace(/^\\t$/, '\t'),
    }),
  );
  if (written.out !== null) io.stderr.write(`report: ${written.out} (${Math.round(written.bytes / 1024)} KB, ${written.data.rows} rows)\n`);
}
