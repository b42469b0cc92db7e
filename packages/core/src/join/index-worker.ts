// The thread that indexes segments of a large result file beside the main thread (see `SegmentIndexer`).
import { parentPort } from 'node:worker_threads';
import { indexRange, type IndexedRange } from './range-index.js';

/**
 * A job: index segments `[bounds[i], bounds[i + 1])` of `path` from the last one back, one for each segment taken by
 * adding 1 to `counter[0]` (the other thread takes them from the front the same way) while it stays below their number.
 */
export interface SegmentJob {
  path: string;
  bounds: number[];
  lean: boolean;
  /** Verdict bytes of each segment. */
  budget: number;
  counter: Int32Array;
}

/** A reply: a segment indexed, or the error that stopped the thread (its fields, to be made an Error again). */
export type SegmentReply = { segment: number; range: IndexedRange } | { error: { message: string; name?: string; code?: unknown } };

parentPort?.on('message', (job: SegmentJob) => {
  void claimSegments(job).catch((err: unknown) => {
    const e = err as { message?: unknown; name?: unknown; code?: unknown };
    parentPort!.postMessage({ error: { message: String(e?.message ?? err), name: typeof e?.name === 'string' ? e.name : undefined, code: e?.code } } satisfies SegmentReply);
  });
});

async function claimSegments(job: SegmentJob): Promise<void> {
  const { path, bounds, lean, budget, counter } = job;
  const n = bounds.length - 1;
  for (let i = n - 1; Atomics.add(counter, 0, 1) < n; i--) {
    const range = await indexRange({ path, from: bounds[i]!, to: bounds[i + 1]!, lean, budget });
    // The arrays and pages move to the main thread without a copy.
    const transfer = [range.hashes, range.offsets, range.lengths, range.lines, range.slots, ...range.pages].map((a) => a.buffer as ArrayBuffer);
    parentPort!.postMessage({ segment: i, range } satisfies SegmentReply, transfer);
  }
}
