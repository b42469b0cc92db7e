/** Thrown by a command to end the process with a specific exit code after it has reported itself. */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message = `exit ${exitCode}`,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

/**
 * Exit codes, documented in the README.
 * 0 success; 1 the job could not run (error [CODE]); 2 bad usage; 3 some records failed; 130 interrupted (SIGINT);
 * 141 stdout's reader went away (128 + SIGPIPE, as for `seq 1 1000000 | head`); 143 terminated (128 + SIGTERM).
 */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  partial: 3,
  interrupted: 130,
  brokenPipe: 141,
  terminated: 143,
} as const;

// The signal that interrupted a command, kept with the error the command stopped with (not in process state, so a
// later command in the same process that is aborted without a signal still exits 130).
const interruptedBy = new WeakMap<object, NodeJS.Signals>();

/** Remember that `signal` interrupted the command that threw `err` (see `withInterrupt`), for {@link interruptExitCode}. */
export function noteInterrupt(err: unknown, signal: NodeJS.Signals): void {
  if (typeof err === 'object' && err !== null) interruptedBy.set(err, signal);
}

/** The exit code of a command interrupted by `signal`: 143 after SIGTERM, else 130 (Ctrl-C, or an abort without a signal). */
export function signalExitCode(signal: NodeJS.Signals | undefined): number {
  return signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
}

/** The exit code of a command that stopped with `err` (an ABORTED error): see {@link signalExitCode}. */
export function interruptExitCode(err: unknown): number {
  return signalExitCode(typeof err === 'object' && err !== null ? interruptedBy.get(err) : undefined);
}
