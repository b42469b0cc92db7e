import { parseResultLine, type BatchResult } from './result-line.js';
import type { JoinIssueHandler } from './join-issue.js';

/** Results of one chunk, addressable by custom_id; each result can be taken once. */
export interface ResultLookup {
  /** Remove and return the result for `customId` (undefined when there is none, or it was taken). */
  take(customId: string): BatchResult | undefined;
  /** Results never taken, i.e. whose custom_id matched no input record. */
  leftovers(): Iterable<{ customId: string; file?: string; line?: number }>;
  /**
   * Optional: the results of these custom_ids (the next records, in order) will be taken soon; a lookup on disk reads
   * their lines now, in file order, so a shuffled results file is read in passes instead of one random read a record.
   */
  prefetch?(customIds: readonly string[]): void;
  /** Number of distinct custom_ids held. */
  readonly size: number;
  /** Release file handles. */
  close(): Promise<void>;
}

/** What a chunk's results may be given as: result lines (text or parsed), normalized results, or any mix. */
export type ResultSource = AsyncIterable<unknown> | Iterable<unknown>;

/**
 * Keep the better of two results for one custom_id: a success beats a failure, otherwise the first stays.
 * @returns true when `next` should replace `current`
 */
export function prefersResult(current: { ok: boolean }, next: { ok: boolean }): boolean {
  return !current.ok && next.ok;
}

/**
 * Load one chunk's results into memory, keyed by custom_id (memory ∝ the chunk's results).
 * Duplicates are reported through `onIssue` (JOIN_DUPLICATE_RESULT) and resolved by {@link prefersResult}.
 */
export async function resultMap(results: ResultSource, onIssue?: JoinIssueHandler): Promise<ResultLookup> {
  const map = new Map<string, BatchResult>();
  let n = 0;
  for await (const item of results as AsyncIterable<unknown>) {
    n += 1;
    const result = isBatchResult(item) ? item : parseResultLine(item, { line: n });
    const current = map.get(result.customId);
    if (current !== undefined) {
      const replace = prefersResult(current, result);
      onIssue?.({
        code: 'JOIN_DUPLICATE_RESULT',
        customId: result.customId,
        message: `duplicate result for custom_id "${result.customId}" (result #${n}); kept the ${replace ? 'later' : 'earlier'} one`,
      });
      if (!replace) continue;
    }
    map.set(result.customId, result);
  }
  return {
    take(customId) {
      const result = map.get(customId);
      if (result !== undefined) map.delete(customId);
      return result;
    },
    *leftovers() {
      for (const customId of map.keys()) yield { customId };
    },
    get size() {
      return map.size;
    },
    async close() {
      map.clear();
    },
  };
}

function isBatchResult(item: unknown): item is BatchResult {
  return typeof item === 'object' && item !== null && 'customId' in item && 'ok' in item && !('custom_id' in item);
}
