// A chunk joined while its results still arrive (realtime round 0): rows go out as soon as theirs are final.
import { customIdOf, readFileLines } from '../job/lines.js';
import type { Wakeup } from '../internal/wakeup.js';
import type { JoinChunk } from './chunk-joiner.js';
import type { BatchResult } from './result-line.js';

/** The final results of the one chunk an ordered join is at, as they arrive (see `createLiveResults`). */
export interface LiveChunkResults {
  /** Follow chunk `chunk`: forget the previous one and start from the final results its answers log holds so far. */
  follow(chunk: number, answersLog: string): Promise<void>;
  /** The followed chunk's final result for `customId`, if it has arrived (handed out once). */
  take(customId: string): BatchResult | undefined;
  readonly wakeup: Wakeup;
}

/**
 * How the ordered join follows a realtime round 0 while it runs: each record's row is written as soon as its
 * result is final (a success no retry round will redo), in input order; the rest of a chunk once it is final.
 */
export interface LiveJoin {
  results: LiveChunkResults;
  /** Resolves when chunk `index`'s results are final (retry rounds included). */
  wait(index: number): Promise<void>;
  /** The request file of chunk `index` (its custom_ids in record order). */
  requestFile(index: number): string;
  /** The round-0 answers log of chunk `index`. */
  answersLog(index: number): string;
}

/**
 * Sub-chunks of chunk `index` while round 0 answers it: runs of consecutive records (from the first) whose results
 * are final, each yielded as soon as the next record's result is not there yet; their custom_ids go to `joined`.
 * Returns once the chunk is final, or at the first record whose result a retry round may change.
 */
export async function* liveChunks(live: LiveJoin, index: number, joined: Set<string>): AsyncGenerator<JoinChunk> {
  // Settled (final, or the run failed: that surfaces through `live.wait` below) wakes the loop once.
  let settled = false;
  const wake = live.results.wakeup;
  void live
    .wait(index)
    .catch(() => undefined)
    .then(() => {
      settled = true;
      wake.notify();
    });
  await live.results.follow(index, live.answersLog(index));
  let run: BatchResult[] = [];
  records: for await (const { text } of readFileLines(live.requestFile(index))) {
    const id = customIdOf(text);
    if (id === null) break;
    for (;;) {
      const result = live.results.take(id);
      if (result) {
        run.push(result);
        joined.add(id);
        break;
      }
      if (run.length > 0) {
        yield { requests: run.length, results: run };
        run = [];
        continue; // results may have arrived while the rows were written
      }
      if (settled) break records;
      await wake.wait();
    }
  }
  if (run.length > 0) yield { requests: run.length, results: run };
  await live.wait(index);
}
