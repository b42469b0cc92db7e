// Round-0 realtime answers as they arrive, so the ordered join writes each final row before its chunk is done.
import { readFileLines } from '../job/lines.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import type { RealtimeResultLine } from '../realtime/types.js';

/**
 * The final results of the one chunk the join is at, fed by the realtime engine as answers arrive. Memory: that
 * chunk's final results not yet joined (≤ its requests), whatever the number of chunks.
 */
export interface LiveResults {
  /** A result of round 0 (its request file is chunk `chunk`); kept only for the followed chunk, and only if final. */
  push(line: RealtimeResultLine, chunk: number): void;
  /** Follow chunk `chunk`: forget the previous one and start from the final results its answers log holds so far. */
  follow(chunk: number, answersLog: string): Promise<void>;
  /** The followed chunk's final result for `customId`, if it has arrived (handed out once). */
  take(customId: string): BatchResult | undefined;
  /** Resolves on the next result pushed for the followed chunk. */
  changed(): Promise<void>;
}

/**
 * Live results whose finality is decided by `isFinal` (a result no retry round can change).
 * @example
 * const live = createLiveResults((r) => r.ok);
 * await live.follow(0, 'job/realtime/answers-00001.jsonl');
 * const result = live.take('row-1') ?? (await live.changed(), live.take('row-1'));
 */
export function createLiveResults(isFinal: (result: BatchResult) => boolean): LiveResults {
  let followed = -1;
  let results = new Map<string, BatchResult>();
  let wake: (() => void) | null = null;
  const add = (item: unknown): void => {
    let result: BatchResult;
    try {
      result = parseResultLine(item);
    } catch {
      return; // not a result line: the chunk's results file decides for it later
    }
    if (isFinal(result)) results.set(result.customId, result);
  };
  return {
    push(line, chunk) {
      if (chunk !== followed) return;
      add(line);
      wake?.();
      wake = null;
    },
    async follow(chunk, answersLog) {
      followed = chunk;
      results = new Map();
      try {
        for await (const { text } of readFileLines(answersLog)) {
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            continue; // the line being appended right now: it is pushed as well
          }
          if ((value as { failed?: unknown } | null)?.failed === true) continue; // a failure marker: not final here
          add(value);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    },
    take(customId) {
      const result = results.get(customId);
      if (result !== undefined) results.delete(customId);
      return result;
    },
    changed() {
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    },
  };
}

/** A final result of round 0 and the chunk (request file) it belongs to. */
export interface QueuedResult {
  chunk: number;
  result: BatchResult;
}

/**
 * Final round-0 results of every chunk in arrival order, for the unordered join. At most `cap` wait here: when the
 * join falls behind (a slow reader of the output), later ones are dropped and that chunk's rows are joined from
 * its results file once it is final instead, so memory stays bounded.
 */
export interface ResultQueue {
  push(line: RealtimeResultLine, chunk: number): void;
  /** The next queued result; resolves when one arrives. */
  next(): Promise<QueuedResult>;
}

/**
 * A {@link ResultQueue} keeping results `isFinal` accepts, at most `cap` at a time.
 * @example
 * const queue = createResultQueue((r) => r.ok, 1000);
 * const { chunk, result } = await queue.next();
 */
export function createResultQueue(isFinal: (result: BatchResult) => boolean, cap: number): ResultQueue {
  const queued: QueuedResult[] = [];
  let wake: ((item: QueuedResult) => void) | null = null;
  return {
    push(line, chunk) {
      let result: BatchResult;
      try {
        result = parseResultLine(line);
      } catch {
        return;
      }
      if (!isFinal(result)) return;
      if (wake) {
        const resolve = wake;
        wake = null;
        resolve({ chunk, result });
      } else if (queued.length < cap) queued.push({ chunk, result });
    },
    next() {
      const item = queued.shift();
      if (item) return Promise.resolve(item);
      return new Promise<QueuedResult>((resolve) => {
        wake = resolve;
      });
    },
  };
}
