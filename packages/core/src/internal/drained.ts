import type { Writable } from 'node:stream';

/** Resolves at the sink's next 'drain', or when it closes or fails (the caller reports the failure); no listener is left behind. */
export function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('error', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('error', done);
    out.on('close', done);
  });
}
