// Round-0 realtime answers as they arrive, so the ordered join writes each final row before its chunk is done.
import { open } from 'node:fs/promises';
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
      let last: unknown;
      try {
        for await (const { text } of readFileLines(answersLog)) {
          if (last !== undefined) add(last);
          last = undefined;
          try {
            const value = JSON.parse(text) as { failed?: unknown; line?: unknown } | null;
            // A failure marker carries its failure line (final when retries are off).
            last = value?.failed === true ? value.line : value;
          } catch {
            // the line being appended right now: it is pushed as well
          }
        }
        // A last line without its newline was torn by a crash: the engine cuts it and sends that request again.
        if (last !== undefined && (await endsWithNewline(answersLog))) add(last);
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

/** What the unordered join hears of round 0, in order: a final result, or that a chunk has all its round-0 results. */
export type RoundEvent = { type: 'result'; chunk: number; result: BatchResult } | { type: 'done'; chunk: number };

/**
 * Round-0 events for the unordered join, first in first out. At most `cap` results wait here: when the join falls
 * behind (a slow reader of the output), later ones are dropped — that chunk's rows are then joined from its results
 * file once it is final — so memory stays bounded; `done` events are never dropped.
 */
export interface ResultQueue {
  push(line: RealtimeResultLine, chunk: number): void;
  /** Chunk `chunk` has all its round-0 results (its results file is complete). */
  done(chunk: number): void;
  /** The next event, if one is waiting. */
  shift(): RoundEvent | undefined;
  /** Resolves when an event may be waiting (one waiter at a time). */
  changed(): Promise<void>;
}

/**
 * A {@link ResultQueue} keeping results `isFinal` accepts, at most `cap` at a time.
 * @example
 * const queue = createResultQueue((r) => r.ok, 1000);
 * const event = queue.shift() ?? (await queue.changed(), queue.shift());
 */
export function createResultQueue(isFinal: (result: BatchResult) => boolean, cap: number): ResultQueue {
  const events: RoundEvent[] = [];
  let results = 0;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  return {
    push(line, chunk) {
      let result: BatchResult;
      try {
        result = parseResultLine(line);
      } catch {
        return;
      }
      if (!isFinal(result) || results >= cap) return;
      results++;
      events.push({ type: 'result', chunk, result });
      notify();
    },
    done(chunk) {
      events.push({ type: 'done', chunk });
      notify();
    },
    shift() {
      const event = events.shift();
      if (event?.type === 'result') results--;
      return event;
    },
    changed() {
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    },
  };
}

/** Whether a file's last byte is a newline (false for an empty file). */
async function endsWithNewline(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size === 0) return false;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - 1);
    return byte[0] === 0x0a;
  } finally {
    await handle.close();
  }
}
