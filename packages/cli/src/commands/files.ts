import type { Command } from 'commander';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolve } from 'node:path';
import { uploadFile } from '@kbatch/core';
import { parseFile } from '@kbatch/core/internal';
import { addClientFlags, clientFromFlags, type ClientFlags } from '../flags/client-flags.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** `kbatch files upload|get|content`: the plain Files API (uploads stream with backpressure). */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const files = program
    .command('files')
    .description('Upload files, show them and download their content (plain Files API)')
    .addHelpText('after', '\nExamples:\n  $ kbatch files upload part-00001.jsonl\n  $ kbatch files content file-abc > output.jsonl');

  addClientFlags(
    files
      .command('upload')
      .description('Upload a JSONL file (purpose batch) and print its id')
      .argument('<path>')
      .option('--purpose <purpose>', 'file purpose', 'batch')
      .option('--json', 'print the raw file object'),
  )
    .addHelpText('after', '\nExample:\n  $ kbatch files upload requests.jsonl --json')
    .action(async (path: string, flags: ClientFlags & { purpose: string; json?: boolean }) => {
      const client = clientFromFlags(flags, io);
      const file = await uploadFile(client, resolve(io.cwd, path), { purpose: flags.purpose });
      io.stdout.write(flags.json ? `${JSON.stringify(file, null, 2)}\n` : `${file.id}\n`);
    });

  addClientFlags(files.command('get').description('Show one file').argument('<file-id>').option('--json', 'print the raw file object'))
    .addHelpText('after', '\nExample:\n  $ kbatch files get file-abc')
    .action(async (id: string, flags: ClientFlags & { json?: boolean }) => {
      const client = clientFromFlags(flags, io);
      const raw = await client.files.retrieve(id);
      if (flags.json) {
        io.stdout.write(`${JSON.stringify(raw, null, 2)}\n`);
        return;
      }
      const f = parseFile(raw);
      io.stdout.write(`id:       ${f.id}\nfilename: ${f.filename ?? '-'}\nbytes:    ${f.bytes ?? '-'}\npurpose:  ${f.purpose ?? '-'}\ncreated:  ${f.created_at ? new Date(f.created_at * 1000).toISOString() : '-'}\n`);
    });

  addClientFlags(files.command('content').description("Stream a file's content to stdout").argument('<file-id>'))
    .addHelpText('after', '\nExample:\n  $ kbatch files content file-abc > output.jsonl')
    .action(async (id: string, flags: ClientFlags) => {
      const client = clientFromFlags(flags, io);
      const response = await client.files.content(id);
      if (!response.body) return;
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), io.stdout, { end: false });
    });
};
