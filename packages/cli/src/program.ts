import { Command } from 'commander';
import { processIo, type CliIo } from './io.js';
import { commands } from './commands/index.js';

/**
 * Build the `kbatch` command tree. No side effects: parsing happens in main.ts (or in tests).
 * @param io - streams and environment the commands use (defaults to the process's)
 */
export function createProgram(io: CliIo = processIo()): Command {
  const program = new Command('kbatch')
    .description('Turn datasets into LLM batch jobs (kluster.ai and any OpenAI-compatible Batch API).')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  for (const register of commands) register(program, io);
  return program;
}

export type { CliIo } from './io.js';
export { ExitError, EXIT } from './exit-error.js';
