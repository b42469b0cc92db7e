import { isAbsolute, resolve } from 'node:path';
import { Option } from 'commander';
import { evaluateFile, formatEvaluation, type InputFormat } from '@kbatch/core';
import { numberArg, parseLabels, withFlagNames } from '../flags/index.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

interface EvalFlags {
  gold: string;
  pred?: string;
  prefix?: string;
  by?: string;
  json?: boolean;
  disagreements?: string;
  targetAccuracy?: number | string;
  labels?: string;
  format?: InputFormat;
  delimiter?: string;
}

// Library options set from flags of the same name (OPTION_INVALID errors then name the flag).
const EVAL_FLAG_OPTIONS = ['gold', 'pred', 'by', 'targetAccuracy', 'labels', 'format', 'delimiter', 'disagreements'];

/** `kbatch eval OUTPUT --gold COLUMN`: how far a joined output's labels agree with the labels you trust. */
export const register: RegisterCommand = (program, io) => {
  program
    .command('eval')
    .description('Evaluate a joined output against gold labels: accuracy, per-label F1, kappa, confusion matrix, calibration')
    .argument('<output>', 'a joined output (JSONL, CSV/TSV or a JSON array), or - for stdin (with --format)')
    .requiredOption('--gold <column>', 'the column holding the trusted label')
    .option('--pred <column>', 'the column holding the predicted label (default: label)')
    .option('--prefix <prefix>', 'the prefix given to run/join (e.g. kb_): predictions in kb_label, kb_confidence, kb_error')
    .option('--by <column>', 'also give every figure per value of this column')
    .option('--labels <list>', 'comma-separated labels: gold and prediction are matched to them as run --labels does')
    .option('--target-accuracy <x>', 'report the lowest confidence threshold whose answers reach this accuracy (0-1)', numberArg)
    .option('--disagreements <file>', 'write the scored rows whose prediction differs from gold, in the input format')
    .option('--json', 'print the figures as one JSON object')
    .addOption(new Option('--format <format>', 'format of the output file (default: from the extension)').choices(['csv', 'tsv', 'jsonl', 'json']))
    .option('--delimiter <char>', 'CSV field delimiter (default "," or tab for tsv)')
    .addHelpText(
      'after',
      `
Examples:
  $ kbatch eval labeled.csv --gold sentiment --labels positive,negative,neutral
  $ kbatch eval out.jsonl --gold sentiment --by lang --target-accuracy 0.95 --json | jq .target

Rows without a usable prediction (failed, invalid answer, missing, empty, not a label) or without a gold label are
counted as unscored, by reason. Calibration and accuracy at coverage appear when the rows have a \`confidence\`.
Exit code: 0 when the figures were printed, 1 on bad input (error [CODE]), 2 on bad usage.`,
    )
    .action(async (output: string, flags: EvalFlags) => {
      await runEval(output, flags, io);
    });
};

async function runEval(output: string, flags: EvalFlags, io: CliIo): Promise<void> {
  const path = (p: string): string => (p === '-' || isAbsolute(p) ? p : resolve(io.cwd, p));
  const prefix = flags.prefix ?? '';
  const result = await withFlagNames(EVAL_FLAG_OPTIONS, () =>
    evaluateFile({
      input: path(output),
      stdin: io.stdin,
      format: flags.format,
      delimiter: flags.delimiter?.replace(/^\\t$/, '\t'),
      gold: flags.gold,
      pred: flags.pred ?? `${prefix}label`,
      confidence: `${prefix}confidence`,
      error: `${prefix}error`,
      by: flags.by,
      labels: flags.labels === undefined ? undefined : parseLabels(flags.labels),
      targetAccuracy: flags.targetAccuracy as number | undefined,
      disagreements: flags.disagreements === undefined ? undefined : path(flags.disagreements),
    }),
  );
  io.stdout.write(flags.json === true ? `${JSON.stringify(result)}\n` : formatEvaluation(result));
}
