import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { splitRequests, type ChunkInfo } from '@kbatch/core';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';
import { addChunkFlags, CHUNK_FLAG_OPTIONS, chunkOptionsFromFlags, withFlagNames, type ChunkFlags } from '../flags/index.js';

const EXAMPLE = `
Examples:
  $ kbatch split requests.jsonl --out-dir chunks
  $ kbatch prepare reviews.csv --model M --prompt "{{text}}" | kbatch split - --out-dir chunks --max-requests 10000 --max-bytes 100MB

Sizes: a plain number is bytes; KB, MB, GB are powers of 1000 and KiB, MiB, GiB powers of 1024.
The defaults are the provider's limits (--provider, default kluster: 50000 requests and 6GB, 6,000,000,000 bytes, per file).
Each chunk's path goes to stdout (one per line, or a JSON object per line with --json) once the file
is complete on disk; a summary goes to stderr.`;

/** `kbatch split`: request lines → chunk files within the per-file limits. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  const command = program
    .command('split')
    .description('split request lines into chunk files of at most 50,000 requests and 6GB each')
    .argument('[requests]', 'request lines (JSONL), or - for stdin', '-');
  addChunkFlags(command);
  command
    .option('--json', 'print each chunk as a JSON object {path, index, requests, bytes, firstCustomId, lastCustomId}')
    .addHelpText('after', EXAMPLE)
    .action(async (input: string, flags: ChunkFlags & { json?: boolean }) => {
      const print = (chunk: ChunkInfo) =>
        io.stdout.write(flags.json ? `${JSON.stringify(chunk)}\n` : `${chunk.path}\n`);
      const summary = await withFlagNames(CHUNK_FLAG_OPTIONS, () =>
        splitRequests({
          ...chunkOptionsFromFlags(flags, io),
          input: input === '-' ? '-' : resolve(io.cwd, input),
          stdin: io.stdin,
          onChunk: print,
        }),
      );
      const where = summary.chunks.length > 0 ? ` in ${relative(io.cwd, flags.outDir ?? '.') || '.'}` : '';
      io.stderr.write(`split: ${summary.requests} requests, ${summary.bytes} bytes → ${summary.chunks.length} chunk file${summary.chunks.length === 1 ? "" : "s"}${where}\n`);
    });
};
