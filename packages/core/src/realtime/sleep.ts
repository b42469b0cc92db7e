import { KbatchError } from '../errors.js';

/** Wait `ms`, rejecting with ABORTED as soon as `signal` aborts (timers never outlive an abort). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The ABORTED error for a signal, keeping its reason as cause. */
export function abortError(signal: AbortSignal): KbatchError {
  return new KbatchError('ABORTED', 'realtime run was aborted', { cause: signal.reason });
}
