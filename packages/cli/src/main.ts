import { CommanderError } from 'commander';
import { isKbatchError } from '@kbatch/core';
import { createProgram } from './program.js';
import { ExitError, EXIT } from './exit-error.js';

// The only place that turns errors into messages and exit codes.
async function main(): Promise<void> {
  try {
    await createProgram().parseAsync(process.argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof ExitError) return err.exitCode;
  if (err instanceof CommanderError) {
    // commander already printed its message (or help/version, which exit 0).
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (isKbatchError(err)) {
    process.stderr.write(`error [${err.code}]: ${err.message}\n`);
    return EXIT.error;
  }
  if (isApiError(err)) {
    process.stderr.write(`error [API_${err.status ?? 'ERROR'}]: ${err.message}\n`);
    return EXIT.error;
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.stderr.write('internal error, please report it with the command you ran\n');
  return EXIT.error;
}

function isApiError(err: unknown): err is Error & { status?: number } {
  return err instanceof Error && 'status' in err && err.constructor.name.endsWith('Error') && typeof (err as { status?: unknown }).status !== 'undefined';
}

await main();
