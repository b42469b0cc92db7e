/** A level-triggered wake-up for one waiter: `wait()` resolves on the next `notify()`, or at once if one is unconsumed. */
export interface Wakeup {
  notify(): void;
  wait(): Promise<void>;
}

/**
 * One waiter woken by any number of sources: a notify that comes while nobody waits is kept, so a waiter that
 * checks its condition and then waits never misses it (and no promise is raced, so nothing piles up on one).
 * @example
 * const wake = createWakeup();
 * while (!ready()) await wake.wait(); // elsewhere: makeReady(); wake.notify();
 */
export function createWakeup(): Wakeup {
  let resolve: (() => void) | undefined;
  let dirty = false;
  return {
    notify() {
      dirty = true;
      resolve?.();
      resolve = undefined;
    },
    wait(): Promise<void> {
      if (dirty) {
        dirty = false;
        return Promise.resolve();
      }
      return new Promise<void>((r) => {
        resolve = () => {
          dirty = false;
          r();
        };
      });
    },
  };
}
