import { Command } from 'commander';
import { processIo, type CliIo } from './io.js';
import { commands } from './commands/index.js';

/**
 * Build the `kbatch` command tree. No side effects: parsing happens in main.ts (or in tests).
 * Every command throws CommanderError instead of calling process.exit, so main.ts owns exit codes.
 * @param io - streams and environment the commands use (defaults to the process's)
 */
export function createProgram(io: CliIo = processIo()): Command {
  const program = new Command('kbatch')
    .description('Turn datasets into LLM batch jobs (kluster.ai and any OpenAI-compatible Batch API).')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  for (const register of commands) register(program, io);
  // Applied after registration: commander copies settings only into subcommands created after they are set.
  applyToAll(program, (command) =>
    command.exitOverride().configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    }),
  );
  return program;
}

function applyToAll(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const sub of command.commands) applyToAll(sub, apply);
}

export type { CliIo } from './io.js';
export { ExitError, EXIT } from './exit-error.js';
