import { CommanderError } from 'commander';
import { isKbatchError } from '@kbatch/core';
import { ExitError, EXIT, interruptExitCode } from './exit-error.js';

/**
 * Turn anything a command threw into one stderr message and an exit code (used only by main.ts).
 * ABORTED (Ctrl-C or SIGTERM) → its message (the resume hint) and exit 130 or 143; KbatchError → `error [CODE]: message`; openai HTTP errors → `error [HTTP_401]: …`; connection failures →
 * `error [CONNECTION]: …`; anything else is a bug and gets its stack.
 */
export function reportError(err: unknown, stderr: { write(s: string): unknown }): number {
  if (err instanceof ExitError) return err.exitCode;
  // The reader closed the pipe (`kbatch results JOB | head`): stop quietly, as `seq 1 1000000 | head` does.
  if (isBrokenPipe(err)) return EXIT.brokenPipe;
  // commander already printed its message (help and --version "fail" with exit code 0).
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  // The only place an interrupt becomes an exit code: the message says how to continue, it is not an error report.
  if (isKbatchError(err) && err.code === 'ABORTED') {
    stderr.write(`${err.message}\n`);
    return interruptExitCode(err);
  }
  if (isKbatchError(err)) {
    stderr.write(`error [${err.code}]: ${err.message}\n`);
    // The CLI builds core options only from flags, so an invalid option is a bad flag value: bad usage.
    return err.code === 'OPTION_INVALID' ? EXIT.usage : EXIT.error;
  }
  const api = apiErrorOf(err);
  if (api) {
    stderr.write(`error [${api.code}]: ${api.message}\n`);
    return EXIT.error;
  }
  stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  stderr.write('internal error, please report it with the command you ran\n');
  return EXIT.error;
}

/** True for EPIPE on a write to a pipe whose reader has gone. */
export function isBrokenPipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'EPIPE';
}

// Duck-typed so the CLI needs no direct dependency on the openai package.
function apiErrorOf(err: unknown): { code: string; message: string } | undefined {
  if (!(err instanceof Error)) return undefined;
  const kind = err.constructor.name;
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number') return { code: `HTTP_${status}`, message: apiMessage(err, status) };
  if (kind === 'APIConnectionError' || kind === 'APIConnectionTimeoutError') {
    return { code: 'CONNECTION', message: `${err.message} (check --base-url / KLUSTER_BASE_URL and your network)` };
  }
  return undefined;
}

// The server's own words: `error.message` of the body, not the SDK's `401 {"error":…}` (a body it did not parse).
function apiMessage(err: Error, status: number): string {
  const fromBody = (body: unknown): string | undefined => {
    if (typeof body !== 'object' || body === null) return undefined;
    const inner = (body as { error?: unknown }).error ?? body;
    const message = typeof inner === 'object' && inner !== null ? (inner as { message?: unknown }).message : typeof inner === 'string' ? inner : undefined;
    return typeof message === 'string' && message !== '' ? message : undefined;
  };
  const text = err.message.startsWith(`${status} `) ? err.message.slice(`${status} `.length) : err.message;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return fromBody((err as { error?: unknown }).error) ?? fromBody(parsed) ?? text;
}
