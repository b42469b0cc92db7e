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

let interruptedBy: NodeJS.Signals | undefined;

/** Remember the signal that interrupted the command (see `withInterrupt`), for {@link interruptExitCode}. */
export function noteInterrupt(signal: NodeJS.Signals): void {
  interruptedBy = signal;
}

/** The exit code of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C, or an abort without a signal). */
export function interruptExitCode(): number {
  return interruptedBy === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
}
