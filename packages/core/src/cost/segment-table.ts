// Token counts of byte segments, held in typed arrays: an estimate looks up one segment per word of every prompt, so
// a lookup allocates nothing (no key object, no Map entry, no Buffer per segment).

/** Slots per entry: the segment's hash, its offset in the byte pool, its length × 4 + its prefix id, its tokens + 1. */
const STRIDE = 4;
/** The table's size bounds: it doubles from the first while at most half full, and starts over when full at the last. */
const MIN_BITS = 12;
const MAX_BITS = 20;
/** The byte pool's size bounds (it doubles as segments are added; past the last, the table starts over). */
const MIN_POOL = 1 << 16;
const MAX_POOL = 1 << 24;

/** A segment: the byte range `[start, end)` of a line, and the hash of its bytes. */
export interface Span {
  start: number;
  end: number;
  hash: number;
}

/**
 * Segments (a byte range of a line, with a small prefix id) and their token counts, found by a hash of their bytes and
 * confirmed by comparing the bytes, so a hash collision never gives a wrong count. Memory is bounded: at most 2^19
 * segments, in 16 MB of slots (2^20 × 16 bytes), and 16 MB of their bytes, after which it starts over: ~40 MB at most
 * (while the pool or the slots double, the old array is held beside the new).
 */
export class SegmentTable {
  private bits = MIN_BITS;
  private slots = new Int32Array((1 << MIN_BITS) * STRIDE);
  private pool = Buffer.allocUnsafe(MIN_POOL);
  private used = 0;
  private size = 0;

  /** The tokens of `line[start, end)` under prefix `prefixId` (0–3) with hash `hash`; -1 when not held. */
  find(line: Buffer, span: Span, prefixId: number): number {
    const { slots, pool } = this;
    const length = span.end - span.start;
    const meta = length * 4 + prefixId;
    const mask = (1 << this.bits) - 1;
    for (let slot = index(span.hash, this.bits); ; slot = (slot + 1) & mask) {
      const at = slot * STRIDE;
      const tokens = slots[at + 3]!;
      if (tokens === 0) return -1;
      if (slots[at] !== span.hash || slots[at + 2] !== meta) continue;
      const offset = slots[at + 1]!;
      let k = 0;
      while (k < length && pool[offset + k] === line[span.start + k]) k++;
      if (k === length) return tokens - 1;
    }
  }

  /** Hold `tokens` for a segment {@link find} did not find. */
  add(line: Buffer, span: Span, prefixId: number, tokens: number): void {
    const length = span.end - span.start;
    if (length > MAX_POOL / 16) return; // a very long segment is not worth holding
    if ((this.size + 1) * 2 > 1 << this.bits) this.growSlots();
    this.reserve(length);
    line.copy(this.pool, this.used, span.start, span.end);
    this.put(span.hash, this.used, length * 4 + prefixId, tokens + 1);
    this.used += length;
    this.size++;
  }

  private put(hash: number, offset: number, meta: number, tokensPlusOne: number): void {
    const mask = (1 << this.bits) - 1;
    let slot = index(hash, this.bits);
    while (this.slots[slot * STRIDE + 3] !== 0) slot = (slot + 1) & mask;
    const at = slot * STRIDE;
    this.slots[at] = hash;
    this.slots[at + 1] = offset;
    this.slots[at + 2] = meta;
    this.slots[at + 3] = tokensPlusOne;
  }

  /** Room in the pool for `length` more bytes: a pool twice as large, or, past the largest, a table started over. */
  private reserve(length: number): void {
    let size = this.pool.length;
    while (this.used + length > size) size *= 2;
    if (size > MAX_POOL) {
      this.clear();
      size = this.pool.length;
      while (length > size) size *= 2;
    }
    if (size === this.pool.length) return;
    const pool = Buffer.allocUnsafe(size);
    this.pool.copy(pool, 0, 0, this.used);
    this.pool = pool;
  }

  private growSlots(): void {
    if (this.bits === MAX_BITS) return this.clear();
    const old = this.slots;
    this.bits++;
    this.slots = new Int32Array((1 << this.bits) * STRIDE);
    for (let at = 0; at < old.length; at += STRIDE) if (old[at + 3] !== 0) this.put(old[at]!, old[at + 1]!, old[at + 2]!, old[at + 3]!);
  }

  /** Start over, at the smallest size. */
  private clear(): void {
    this.bits = MIN_BITS;
    this.slots = new Int32Array((1 << MIN_BITS) * STRIDE);
    this.pool = Buffer.allocUnsafe(MIN_POOL);
    this.used = 0;
    this.size = 0;
  }
}

/** A slot for a hash (Fibonacci hashing: the multiply spreads hashes that differ only in their low bits). */
function index(hash: number, bits: number): number {
  return Math.imul(hash, 0x9e3779b1) >>> (32 - bits);
}
