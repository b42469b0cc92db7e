import { noteInterrupt, signalExitCode } from './exit-error.js';

/**
 * Run `fn` with an AbortSignal that fires on the first Ctrl-C (SIGINT) or SIGTERM; a second one exits at once.
 * The ABORTED error `fn` then stops with goes to the error reporter, which prints its message (the resume hint) and
 * exits 130 after SIGINT, 143 after SIGTERM (128 + the signal's number, as a shell reports it).
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(signalExitCode(interruptedBy));
    interruptedBy = signal;
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } catch (err) {
    // The signal goes with the error to the reporter, which picks the exit code.
    if (interruptedBy !== undefined) noteInterrupt(err, interruptedBy);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
