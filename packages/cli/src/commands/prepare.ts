import { relative } from 'node:path';
import type { Command } from 'commander';
import { drawSample, formatSample, KbatchError, prepareRequests, sampleFilter, sampleSummary, type SampleDraw } from '@kbatch/core';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';
import {
  addInputFlags,
  addSampleFlags,
  sampleFromFlags,
  type SampleFlags,
  addRequestFlags,
  INPUT_FLAG_OPTIONS,
  inputOptionsFromFlags,
  REQUEST_FLAG_OPTIONS,
  requestOptionsFromFlags,
  withFlagNames,
  type InputFlags,
  type RequestFlags,
} from '../flags/index.js';

const EXAMPLE = `
Examples:
  $ kbatch prepare reviews.csv --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo \\
      --prompt "Sentiment (positive/negative) of: {{text}}" --temperature 0 --max-completion-tokens 5 > requests.jsonl
  $ cat items.jsonl | kbatch prepare - --format jsonl --model M --prompt "Describe {{item.name}}" --id-column sku
  $ kbatch prepare data.tsv --model M --template-file prompt.txt --system "Answer in French." --on-invalid skip

Templates: {{column}} inserts a field, {{a.b}} a nested JSON field; write \\{{ for a literal {{.
A field the record lacks is an error (TEMPLATE_FIELD_MISSING), never an empty string.
Request lines go to stdout; the summary (records read = lines written + rejected) goes to stderr.`;

/** `kbatch prepare`: records → one chat-completion request line per record on stdout. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const command = program
    .command('prepare')
    .description('turn a CSV/TSV/JSONL/JSON dataset into batch request lines (JSONL on stdout)')
    .argument('[input]', 'input file, or - for stdin', '-');
  addRequestFlags(command);
  addInputFlags(command);
  addSampleFlags(command);
  command.addHelpText('after', EXAMPLE).action(async (input: string, flags: RequestFlags & InputFlags & SampleFlags) => {
    let draw: SampleDraw | null = null;
    const summary = await withFlagNames([...REQUEST_FLAG_OPTIONS, ...INPUT_FLAG_OPTIONS], async () => {
      const request = await requestOptionsFromFlags(flags, io);
      const { rejects, ...read } = inputOptionsFromFlags(input, flags, io);
      const sample = sampleFromFlags(flags);
      if (sample !== undefined) {
        // The draw reads the input before prepare reads it again: a file, not stdin.
        if (read.input === '-') throw new KbatchError('OPTION_INVALID', 'Invalid option `--sample`: needs an input file, not stdin (or sample with kbatch run -)', { field: '--sample' });
        draw = await drawSample({ ...read, input: read.input as string }, sample);
      }
      return prepareRequests({ ...read, ...request, output: '-', stdout: io.stdout, rejects, ...(draw !== null ? { keep: sampleFilter(draw) } : {}) });
    });
    const rejected =
      summary.rejected > 0 && flags.onInvalid === 'skip'
        ? ` (see ${relative(io.cwd, inputOptionsFromFlags(input, flags, io).rejects!) || 'rejects.jsonl'})`
        : '';
    const sampled = draw as SampleDraw | null;
    if (sampled !== null) io.stderr.write(`prepare: ${formatSample(sampleSummary(sampled))}\n`);
    io.stderr.write(
      `prepare: ${summary.recordsRead} records read, ${summary.linesWritten} request lines written, ${summary.rejected} rejected${rejected}\n`,
    );
  });
};
