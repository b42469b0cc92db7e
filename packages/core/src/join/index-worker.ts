// The thread that indexes the second half of a large result file while the main thread does the first (see `RangeIndexer`).
import { parentPort } from 'node:worker_threads';
import { indexRange, type IndexedRange, type RangeRequest } from './range-index.js';

/** A reply: the range indexed, or the error that stopped it (its fields, to be made an Error again). */
export type RangeReply = { range: IndexedRange } | { error: { message: string; name?: string; code?: unknown } };

parentPort?.on('message', (request: RangeRequest) => {
  indexRange(request).then(
    (range) => {
      // The arrays and pages move to the main thread without a copy.
      const transfer = [range.hashes, range.offsets, range.lengths, range.lines, range.slots, ...range.pages].map((a) => a.buffer as ArrayBuffer);
      parentPort!.postMessage({ range } satisfies RangeReply, transfer);
    },
    (err: unknown) => {
      const e = err as { message?: unknown; name?: unknown; code?: unknown };
      parentPort!.postMessage({ error: { message: String(e?.message ?? err), name: typeof e?.name === 'string' ? e.name : undefined, code: e?.code } } satisfies RangeReply);
    },
  );
});
