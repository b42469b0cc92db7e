// Round-0 realtime answers as they arrive, so the join writes each final row before its chunk is done.
import { open } from 'node:fs/promises';
import { createWakeup, type Wakeup } from '../internal/wakeup.js';
import { readFileLines } from '../job/lines.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import type { RealtimeResultLine } from '../realtime/realtime-types.js';
import type { RoundEvent } from '../join/unordered-join.js';

/**
 * Round 0 as the engine writes it: each result parsed once, the final ones (no retry round will redo them)
 * counted per chunk and handed on, so a chunk is known to be final without reading its results file again.
 */
export interface RoundResults {
  /** The engine's `onResult`: a result line of round 0 and its chunk. */
  push(line: RealtimeResultLine, chunk: number): void;
  /** Every request of `chunk` has a final result (ask once its results file is complete). */
  allFinal(chunk: number): boolean;
}

/**
 * A {@link RoundResults} for chunks of `requests[i]` requests.
 * @param onFinal - hears of each final result (the live join's `offer`)
 * @example
 * const round = createRoundResults((r) => r.ok, [1000, 1000], (result, chunk) => live.offer(result, chunk));
 */
export function createRoundResults(
  isFinal: (result: BatchResult) => boolean,
  requests: readonly number[],
  onFinal?: (result: BatchResult, chunk: number) => void,
): RoundResults {
  const finals = new Array<number>(requests.length).fill(0);
  return {
    push(line, chunk) {
      const result = parseResult(line);
      if (result === undefined || !isFinal(result)) return;
      finals[chunk]!++;
      onFinal?.(result, chunk);
    },
    allFinal: (chunk) => finals[chunk] === requests[chunk],
  };
}

/**
 * The final results of the one chunk the ordered join is at. Memory: that chunk's final results not yet joined
 * (≤ its requests), whatever the number of chunks.
 */
export interface LiveResults {
  /** A final result of chunk `chunk`; kept only while it is the followed chunk. */
  offer(result: BatchResult, chunk: number): void;
  /** Follow chunk `chunk`: forget the previous one and start from the final results its answers log holds so far. */
  follow(chunk: number, answersLog: string): Promise<void>;
  /** The followed chunk's final result for `customId`, if it has arrived (handed out once). */
  take(customId: string): BatchResult | undefined;
  /** Notified by each result offered for the followed chunk (the join also notifies it when the chunk is final). */
  readonly wakeup: Wakeup;
}

/**
 * Live results; `isFinal` decides for what the answers log already holds when a chunk is followed.
 * @example
 * const live = createLiveResults((r) => r.ok);
 * await live.follow(0, 'job/realtime/answers-00001.jsonl');
 * while (!live.take('row-1')) await live.wakeup.wait();
 */
export function createLiveResults(isFinal: (result: BatchResult) => boolean): LiveResults {
  let followed = -1;
  let results = new Map<string, BatchResult>();
  const wakeup = createWakeup();
  const add = (item: unknown): void => {
    const result = parseResult(item);
    if (result !== undefined && isFinal(result)) results.set(result.customId, result);
  };
  return {
    wakeup,
    offer(result, chunk) {
      if (chunk !== followed) return;
      results.set(result.customId, result);
      wakeup.notify();
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
            // the line being appended right now: it is offered as well
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
  };
}

export type { RoundEvent };

/**
 * Round-0 events for the unordered join, first in first out. At most `cap` results wait here: when the join falls
 * behind (a slow reader of the output), later ones are dropped — that chunk's rows are then joined from its results
 * file once it is final — so memory stays bounded; `done` events are never dropped.
 */
export interface ResultQueue {
  /** A final result of chunk `chunk`. */
  offer(result: BatchResult, chunk: number): void;
  /** Chunk `chunk` has all its round-0 results (its results file is complete). */
  done(chunk: number): void;
  /** The next event, if one is waiting. */
  shift(): RoundEvent | undefined;
  /** Notified by each event (the join also notifies it when a chunk becomes final). */
  readonly wakeup: Wakeup;
}

/**
 * A {@link ResultQueue} holding at most `cap` results at a time.
 * @example
 * const queue = createResultQueue(1000);
 * for (;;) { const event = queue.shift(); if (event) handle(event); else await queue.wakeup.wait(); }
 */
export function createResultQueue(cap: number): ResultQueue {
  const events: RoundEvent[] = [];
  let results = 0;
  const wakeup = createWakeup();
  return {
    wakeup,
    offer(result, chunk) {
      if (results >= cap) return;
      results++;
      events.push({ type: 'result', chunk, result });
      wakeup.notify();
    },
    done(chunk) {
      events.push({ type: 'done', chunk });
      wakeup.notify();
    },
    shift() {
      const event = events.shift();
      if (event?.type === 'result') results--;
      return event;
    },
  };
}

/** A result line parsed, or undefined when it is none (its chunk's results file decides for it later). */
function parseResult(item: unknown): BatchResult | undefined {
  try {
    return parseResultLine(item);
  } catch {
    return undefined;
  }
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
