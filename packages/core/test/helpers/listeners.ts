import { getEventListeners } from 'node:events';

/** What {@link watchAbortListeners} saw: listeners added to the signal and still on it, and Node's listener warnings. */
export interface AbortListenerReport {
  left: number;
  warnings: string[];
}

/**
 * Watch a long-lived signal while something runs: `stop()` tells how many abort listeners were added to it and are
 * still there, and which MaxListenersExceededWarnings Node emitted meanwhile (for any signal).
 * @example const watch = watchAbortListeners(signal); await runBatchJob({ …, signal }); expect(await watch.stop()).toEqual({ left: 0, warnings: [] });
 */
export function watchAbortListeners(signal: AbortSignal): { stop(): Promise<AbortListenerReport> } {
  const before = getEventListeners(signal, 'abort').length;
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  return {
    async stop() {
      // Node emits the warning on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      process.off('warning', onWarning);
      return { left: getEventListeners(signal, 'abort').length - before, warnings };
    },
  };
}

/** A listener added as the openai client adds its own: once, and never removed. */
export function leakListener(signal: AbortSignal | null | undefined): void {
  signal?.addEventListener('abort', () => {}, { once: true });
}
