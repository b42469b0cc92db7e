/** Timers that all resolve `false` at once when the emulator closes, so lifecycles stop promptly. */
export class Sleeper {
  private closed = false;
  private readonly pending = new Set<{ timer: NodeJS.Timeout; resolve: (ok: boolean) => void }>();

  /** Whether close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolve `true` after `ms`, or `false` as soon as the sleeper closes. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          resolve(!this.closed);
        }, Math.max(0, ms)),
        resolve,
      };
      this.pending.add(entry);
    });
  }

  /** Stop every pending sleep. */
  close(): void {
    this.closed = true;
    for (const entry of this.pending) {
      clearTimeout(entry.timer);
      entry.resolve(false);
    }
    this.pending.clear();
  }
}
