import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { numberArg } from '../flags/numbers.js';
import { listRawBatches, parseBatch, type KBatch } from '@kbatch/core/internal';
import { addClientFlags, clientFromFlags, type ClientFlags } from '../flags/client-flags.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

// A bad --limit is a usage error (exit 2), like any other malformed flag.
function limitArg(value: string): number {
  const n = numberArg(value);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`must be a positive integer, got "${value}"`);
  return n;
}

/** `kbatch batches list|get|cancel`: the plain Batch API. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const batches = program
    .command('batches')
    .description('List, show and cancel batches (plain Batch API)')
    .addHelpText('after', '\nExamples:\n  $ kbatch batches list --limit 5\n  $ kbatch batches get batch_abc --json\n  $ kbatch batches cancel batch_abc');

  addClientFlags(
    batches
      .command('list')
      .description('List batches, newest first')
      .addOption(new Option('--limit <n>', 'how many (all pages are read until the limit)').argParser(limitArg).default(20))
      .option('--json', 'print the raw batch objects as JSON lines'),
  )
    .addHelpText('after', '\nExample:\n  $ kbatch batches list --limit 50 --json | jq -r .id')
    .action(async (flags: ClientFlags & { limit: number; json?: boolean }) => {
      const client = clientFromFlags(flags, io);
      const limit = flags.limit;
      let n = 0;
      // --json prints what the server sent; only the table needs the parsed view.
      for await (const raw of listRawBatches(client.batches, { pageSize: Math.min(100, limit) })) {
        io.stdout.write(flags.json ? `${JSON.stringify(raw)}\n` : `${formatRow(parseBatch(raw))}\n`);
        if (++n >= limit) break;
      }
    });

  addClientFlags(batches.command('get').description('Show one batch').argument('<batch-id>').option('--json', 'print the raw batch object'))
    .addHelpText('after', '\nExample:\n  $ kbatch batches get batch_abc')
    .action(async (id: string, flags: ClientFlags & { json?: boolean }) => {
      const client = clientFromFlags(flags, io);
      const raw = await client.batches.retrieve(id);
      io.stdout.write(flags.json ? `${JSON.stringify(raw, null, 2)}\n` : formatDetail(parseBatch(raw)));
    });

  addClientFlags(batches.command('cancel').description('Cancel one batch').argument('<batch-id>').option('--json', 'print the raw batch object'))
    .addHelpText('after', '\nExample:\n  $ kbatch batches cancel batch_abc')
    .action(async (id: string, flags: ClientFlags & { json?: boolean }) => {
      const client = clientFromFlags(flags, io);
      const raw = await client.batches.cancel(id);
      io.stdout.write(flags.json ? `${JSON.stringify(raw, null, 2)}\n` : formatDetail(parseBatch(raw)));
    });
};

function formatRow(b: KBatch): string {
  const c = b.request_counts;
  return [b.id, b.status, `${c.completed}/${c.total}`, `${c.failed} failed`, b.created_at ? new Date(b.created_at * 1000).toISOString() : '-'].join('\t');
}

function formatDetail(b: KBatch): string {
  const c = b.request_counts;
  const lines = [
    `id:           ${b.id}`,
    `status:       ${b.status}`,
    `requests:     ${c.completed}/${c.total} completed, ${c.failed} failed`,
    `input file:   ${b.input_file_id ?? '-'}`,
    `output file:  ${b.output_file_id ?? '-'}`,
    `error file:   ${b.error_file_id ?? '-'}`,
    `window:       ${b.completion_window ?? '-'}`,
    `created:      ${b.created_at ? new Date(b.created_at * 1000).toISOString() : '-'}`,
  ];
  if (b.metadata && Object.keys(b.metadata).length) lines.push(`metadata:     ${JSON.stringify(b.metadata)}`);
  for (const e of b.errors?.data ?? []) lines.push(`error:        ${e.line == null ? '' : `line ${e.line}: `}${e.code ?? ''} ${e.message ?? ''}`);
  return `${lines.join('\n')}\n`;
}
