import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { InputEncoding, InputFormat, ReadRecordsOptions } from '@kbatch/core';
import type { CliIo } from '../io.js';

/** Flags that say how to read the records input. */
export interface InputFlags {
  format?: InputFormat;
  delimiter?: string;
  encoding?: InputEncoding;
  onInvalid?: 'error' | 'skip';
  rejects?: string;
}

/** Library option names set from these flags. */
export const INPUT_FLAG_OPTIONS = ['format', 'delimiter', 'encoding', 'onInvalidRecord'] as const;

/** Add --format, --delimiter, --encoding, --on-invalid and --rejects. Shared by `prepare` and `run`. */
export function addInputFlags(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'input format (default: from the file extension)').choices(['csv', 'tsv', 'jsonl', 'json']))
    .option('--delimiter <char>', 'CSV field delimiter (default "," or tab for tsv)')
    .addOption(new Option('--encoding <encoding>', 'input encoding (default utf8: invalid bytes are an error)').choices(['utf8', 'latin1']))
    .addOption(new Option('--on-invalid <policy>', 'malformed records: stop (error) or skip to the rejects file').choices(['error', 'skip']).default('error'))
    .option('--rejects <path>', 'where skipped records go as JSON lines (default: rejects.jsonl, only created if needed)');
}

/** Input options for core readers; `input` is a path (resolved against `io.cwd`) or `-` for `io.stdin`. */
export function inputOptionsFromFlags(
  input: string,
  flags: InputFlags,
  io: Pick<CliIo, 'cwd' | 'stdin'>,
): Omit<ReadRecordsOptions, 'onReject'> & { rejects?: string } {
  const options: Omit<ReadRecordsOptions, 'onReject'> & { rejects?: string } = {
    input: input === '-' ? '-' : resolve(io.cwd, input),
    onInvalidRecord: flags.onInvalid ?? 'error',
    stdin: io.stdin,
  };
  if (flags.format !== undefined) options.format = flags.format;
  if (flags.encoding !== undefined) options.encoding = flags.encoding;
  if (flags.delimiter !== undefined) options.delimiter = flags.delimiter.replace(/^\\t$/, '\t');
  if (options.onInvalidRecord === 'skip') options.rejects = resolve(io.cwd, flags.rejects ?? 'rejects.jsonl');
  return options;
}
