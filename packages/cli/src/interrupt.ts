import { interruptExitCode, noteInterrupt } from './exit-error.js';

/**
 * Run `fn` with an AbortSignal that fires on the first Ctrl-C (SIGINT) or SIGTERM; a second one exits at once.
 * The ABORTED error `fn` then stops with goes to the error reporter, which prints its message (the resume hint) and
 * exits 130 after SIGINT, 143 after SIGTERM (128 + the signal's number, as a shell reports it).
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(interruptExitCode());
    noteInterrupt(signal);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
