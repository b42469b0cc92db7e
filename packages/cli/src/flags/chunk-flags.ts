import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ChunkWriterOptions } from '@kbatch/core';
import type { CliIo } from '../io.js';
import { numberArg } from './numbers.js';
import { addProviderFlag } from './client-flags.js';

/** Flags that shape the chunk files. */
export interface ChunkFlags {
  provider?: string;
  outDir?: string;
  maxRequests?: number | string;
  maxBytes?: string;
  maxBatchTokens?: number | string;
  prefix?: string;
  overwrite?: boolean;
}

/** Library option names set from these flags. */
export const CHUNK_FLAG_OPTIONS = ['provider', 'outDir', 'maxRequests', 'maxBytes', 'maxBatchTokens', 'prefix', 'overwrite'] as const;

/**
 * Add --max-requests, --max-bytes, --max-batch-tokens, --prefix, --overwrite (and --out-dir unless the caller has its own
 * output directory, like `run`). Shared by `split` and `run`.
 */
export function addChunkFlags(command: Command, { outDir = true, naming = true }: { outDir?: boolean; naming?: boolean } = {}): Command {
  if (outDir) command.option('-o, --out-dir <dir>', 'directory for the chunk files (required)');
  addProviderFlag(command)
    .option('--max-requests <n>', "most requests per chunk file (default: the provider's limit, 50000 on kluster)", numberArg)
    .option('--max-bytes <size>', "most bytes per chunk file: bytes, or KB/MB/GB (1000s), KiB/MiB/GiB (1024s) (default: the provider's limit, 6GB on kluster)")
    .option(
      '--max-batch-tokens <n>',
      "most estimated prompt tokens per chunk file, to stay under a provider's enqueued-token limit (e.g. OpenAI's per model and tier); an estimate (characters/4 + 4 per message): leave a margin (default: the provider's budget where it documents one, see kbatch providers)",
      numberArg,
    );
  // `run` names its own chunk files (and uses --prefix for the added fields): naming: false leaves these out.
  if (!naming) return command;
  return command
    .option('--prefix <name>', 'chunk file name prefix: <prefix>-00001.jsonl (default part)')
    .option('--overwrite', 'replace chunk files left in the directory by an earlier run');
}

/** Map chunk flags onto core chunk options (the directory resolved against `io.cwd`). */
export function chunkOptionsFromFlags(flags: ChunkFlags, io: Pick<CliIo, 'cwd'>, outDir = flags.outDir): ChunkWriterOptions {
  const options: Record<string, unknown> = {
    // Its limits are the defaults of maxRequests and maxBytes (in run, once its mode is known).
    provider: flags.provider,
    outDir: outDir === undefined ? undefined : resolve(io.cwd, outDir),
    maxRequests: flags.maxRequests,
    maxBytes: flags.maxBytes,
    maxBatchTokens: flags.maxBatchTokens,
    prefix: flags.prefix,
    overwrite: flags.overwrite,
  };
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return options as ChunkWriterOptions;
}
