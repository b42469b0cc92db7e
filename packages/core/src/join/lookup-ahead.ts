// The entries of the next custom_ids found together, before they are taken: a window's lookups overlap their misses.
import type { IdHashTable } from './id-hash-table.js';
import type { LinePositions } from './line-positions.js';
import type { VerdictStore } from './verdict-store.js';

/** {@link LookupAhead.entry}: not settled ahead, find the entry as usual. */
export const FIND = -2;

const NONE: readonly string[] = [];
/** Ids looked up at a time: few enough that their buckets and verdicts stay in the cache until taken. */
const BLOCK = 128;

/**
 * The custom_ids about to be taken (a join window, in order), looked up in stages over all of them — hash buckets, then
 * positions, then verdicts — so the cache misses of a shuffled results file overlap instead of coming one after another
 * (measured: a million takes 1.6 s of CPU one by one, 0.7 s in windows). Only a hint: {@link entry} settles an id only
 * where the usual find would give the same answer, and says {@link FIND} for anything else.
 */
export class LookupAhead {
  private ids = NONE;
  /** The entries of ids `[from, looked)`. */
  private readonly entries = new Int32Array(BLOCK);
  private next = 0;
  private from = 0;
  private looked = 0;
  /** Bytes read to bring verdicts into the cache (kept so the reads are not dropped as unused). */
  warmth = 0;

  constructor(
    private readonly table: IdHashTable,
    private readonly positions: LinePositions,
    private readonly store: VerdictStore,
    /** The bit of `positions.flags` that marks an entry taken. */
    private readonly taken: number,
  ) {}

  /** Look up `customIds`, the next ids to be taken, in order (forgetting the previous ones). */
  fill(customIds: readonly string[]): void {
    this.ids = customIds;
    this.next = 0;
    this.looked = 0;
  }

  /** Look up the {@link BLOCK} ids from `next`, whose entries then sit in the cache until they are taken. */
  private look(): void {
    const { ids, positions, store } = this;
    const from = (this.from = this.next);
    const n = Math.min(BLOCK, ids.length - from);
    this.looked = from + n;
    this.table.firstEntries(ids, from, n, this.entries);
    const entries = this.entries;
    let warmth = 0;
    for (let k = 0; k < n; k++) {
      const e = entries[k]!;
      if (e !== -1) warmth ^= positions.verdicts[e]! ^ positions.flags[e]!;
    }
    for (let k = 0; k < n; k++) {
      const e = entries[k]!;
      const slot = e === -1 ? -1 : positions.verdicts[e]!;
      if (slot !== -1) warmth ^= store.touch(slot);
    }
    this.warmth = warmth;
  }

  /**
   * When `customId` is the next id looked up (or the one after it): its untaken entry with a verdict for it, or -1 when
   * no entry has its hash (the first entry with its hash is the one a find confirms first; entries are only ever taken
   * meanwhile).
   * {@link FIND} for any other case: another id, a taken entry, a line without a verdict, a hash collision.
   */
  entry(customId: string): number {
    const ids = this.ids;
    let k = this.next;
    // A record left out of the join (a skipped row) shifts the ids by one.
    if (ids[k] !== customId && ids[++k] !== customId) return FIND;
    if (this.store.empty) return FIND;
    this.next = k;
    if (k >= this.looked) this.look();
    const e = this.entries[k - this.from]!;
    this.next = k + 1;
    if (e === -1) return -1;
    const { positions } = this;
    const slot = positions.verdicts[e]!;
    if ((positions.flags[e]! & this.taken) !== 0 || slot === -1 || !this.store.isFor(slot, customId)) return FIND;
    return e;
  }

  /** Forget the ids looked up (entries were added since). */
  clear(): void {
    this.ids = NONE;
    this.next = 0;
    this.looked = 0;
  }
}
