/** Holds results that finished early until every earlier one has finished (input order restored). */
export interface ReorderBuffer<T> {
  /** Store the result of input number `seq` (0-based). */
  put(seq: number, item: T): void;
  /** Remove and return the results that are now in order (possibly none). */
  drain(): T[];
  /** How many results wait for an earlier one. */
  readonly size: number;
}

/**
 * Create a reorder buffer. It is unbounded by itself: the caller bounds it by starting input
 * number n only while n - emitted < window, so a slow head-of-line request pauses intake instead
 * of growing memory.
 * @example
 * const buffer = createReorderBuffer<string>();
 * buffer.put(1, 'b'); buffer.drain(); // [] — waits for 0
 * buffer.put(0, 'a'); buffer.drain(); // ['a', 'b']
 */
export function createReorderBuffer<T>(): ReorderBuffer<T> {
  const waiting = new Map<number, T>();
  let next = 0;
  return {
    put(seq, item) {
      waiting.set(seq, item);
    },
    drain() {
      const out: T[] = [];
      while (waiting.has(next)) {
        out.push(waiting.get(next)!);
        waiting.delete(next++);
      }
      return out;
    },
    get size() {
      return waiting.size;
    },
  };
}
