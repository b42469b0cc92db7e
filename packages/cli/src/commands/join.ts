import { isAbsolute, resolve } from 'node:path';
import { Option } from 'commander';
import { formatJoinReport, joinFiles, loadAnswerSchema, type JoinIssue } from '@kbatch/core';
import { EXIT, ExitError } from '../exit-error.js';
import { parseLabels } from '../flags/labels.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

interface JoinFlags {
  input: string;
  results: string[];
  errors?: string[];
  format?: 'csv' | 'tsv' | 'jsonl' | 'json';
  encoding?: 'utf8' | 'latin1';
  delimiter?: string;
  onInvalid?: 'error' | 'skip';
  idColumn?: string;
  labels?: string;
  logprobs?: boolean;
  schema?: string;
  prefix?: string;
  keepRaw?: boolean;
  output?: string;
  outputFormat?: 'jsonl' | 'csv' | 'tsv' | 'json';
  verbose?: boolean;
}

/** `kbatch join`: put batch results (that ran any way) back onto the input records. */
export const register: RegisterCommand = (program, io) => {
  program
    .command('join')
    .description('Join batch output/error files back onto the input records by custom_id, in input order')
    .requiredOption('--input <file>', 'the input the requests were built from (CSV/TSV/JSONL/JSON, or - for stdin)')
    .requiredOption('--results <files...>', 'batch output file(s), JSON Lines of request output objects')
    .option('--errors <files...>', 'batch error file(s), same format')
    .addOption(new Option('--format <format>', 'input format (default: from the extension)').choices(['csv', 'tsv', 'jsonl', 'json']))
    .option('--delimiter <char>', 'CSV field delimiter (default "," or tab for tsv), as given to prepare')
    .addOption(new Option('--encoding <encoding>', 'input encoding, as given to prepare (default utf8)').choices(['utf8', 'latin1']))
    .addOption(new Option('--on-invalid <policy>', 'malformed input records: stop (error) or skip with a warning, as given to prepare').choices(['error', 'skip']).default('error'))
    .option('--id-column <field>', 'input field that was used as custom_id (default: row-<record number>)')
    .option('--labels <list>', 'comma-separated labels: parse each answer to one of them, adding `label`')
    .option('--logprobs', 'with --labels: add `confidence` from the first answer token (results must hold logprobs)')
    .option('--schema <file>', 'JSON Schema file: parse each answer as JSON, validate it, add its fields')
    .option('--prefix <prefix>', 'prefix for the added fields (e.g. kb_), needed when an input field has the same name')
    .option('--keep-raw', 'add the whole response body as `raw`')
    .option('--output <file>', 'output file (default: stdout)')
    .addOption(new Option('--output-format <format>', 'output format (default: from --output extension, else jsonl)').choices(['jsonl', 'csv', 'tsv', 'json']))
    .option('--verbose', 'list every missing, unknown and duplicate result on stderr')
    .addHelpText(
      'after',
      `
Example:
  kbatch join --input reviews.csv --results outputs.jsonl --errors errors.jsonl \\
    --labels positive,negative,neutral --output labeled.csv

Added fields: custom_id, [label, confidence | schema fields], response, finish_reason, prompt_tokens,
completion_tokens, error (null or a message with the HTTP status), [raw]. A summary goes to stderr.
Exit code: 0 when every record succeeded, 3 when some failed, are missing or have invalid answers.`,
    )
    .action(async (flags: JoinFlags) => {
      await runJoin(flags, io);
    });
};

async function runJoin(flags: JoinFlags, io: CliIo): Promise<void> {
  const path = (p: string): string => (p === '-' || isAbsolute(p) ? p : resolve(io.cwd, p));
  const report = await joinFiles({
    input: path(flags.input),
    stdin: io.stdin,
    format: flags.format,
    delimiter: flags.delimiter?.replace(/^\\t$/, '\t'),
    encoding: flags.encoding,
    onInvalidRecord: flags.onInvalid,
    results: flags.results.map(path),
    errors: (flags.errors ?? []).map(path),
    idColumn: flags.idColumn,
    labels: flags.labels === undefined ? undefined : parseLabels(flags.labels),
    confidence: flags.logprobs === true,
    schema: flags.schema === undefined ? undefined : await loadAnswerSchema(path(flags.schema)),
    prefix: flags.prefix,
    keepRaw: flags.keepRaw === true,
    output: flags.output === undefined ? undefined : path(flags.output),
    outputFormat: flags.outputFormat,
    stdout: io.stdout,
    onIssue: flags.verbose
      ? (issue: JoinIssue) => {
          io.stderr.write(`${issue.code}: ${issue.message}\n`);
        }
      : undefined,
    onWarning: (message) => io.stderr.write(`warning: ${message}\n`),
  });
  io.stderr.write(`${formatJoinReport(report)}\n`);
  if (!flags.verbose && report.missing + report.unknown + report.duplicates > 0) {
    io.stderr.write('(run with --verbose to list missing, unknown and duplicate results)\n');
  }
  if (report.succeeded < report.records) {
    throw new ExitError(EXIT.partial, `${report.records - report.succeeded} of ${report.records} records did not succeed`);
  }
}
