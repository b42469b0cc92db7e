/**
 * An open-addressing hash table from a string key's 64-bit hash to entry numbers, kept in one typed
 * array (hash halves and entry side by side: a lookup touches one cache line): no per-key heap objects,
 * so a million keys cost ~24 MB off-heap and add no GC work.
 * It stores hashes, not keys: callers confirm a hit against the real key (kept elsewhere, e.g. on
 * disk), so even a 64-bit collision between two keys stays correct.
 */
/** Linear probing stays short up to 5/8 full (then the table doubles). */
export class IdHashTable {
  private mask: number;
  /** Per bucket: high hash, low hash, entry + 1 (0: empty, so a new table needs no fill). */
  private slots: Int32Array;
  private count = 0;
  /** Scratch of {@link firstEntries}: each key's hash halves. */
  private hashes = new Int32Array(0);

  constructor(capacity = 1024) {
    let cap = 1024;
    while (cap * 5 < capacity * 8) cap *= 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 3);
  }

  /**
   * The first entry with `key`'s hash that `accept` confirms (it checks the real key), or -1.
   * Different keys with equal hashes simply sit side by side; `accept` tells them apart.
   */
  find(key: string, accept: (entry: number) => boolean): number {
    return this.findHashed(hashKey(key), low, accept);
  }

  /** {@link find} by the key's hash halves (see {@link hashAsciiBytes}). */
  findHashed(a: number, b: number, accept: (entry: number) => boolean): number {
    const slots = this.slots;
    for (let i = a & this.mask; slots[3 * i + 2] !== 0; i = (i + 1) & this.mask) {
      const entry = slots[3 * i + 2]! - 1;
      if (slots[3 * i] === a && slots[3 * i + 1] === b && accept(entry)) return entry;
    }
    return -1;
  }

  /**
   * For each of `keys[from, from + n)`, the entry of the first bucket holding its hash, or -1 when none does (then
   * `find` finds nothing), in `out[0, n)`.
   * In stages over all keys (hashes, then buckets): the buckets' cache misses overlap instead of coming one per key.
   */
  firstEntries(keys: readonly string[], from: number, n: number, out: Int32Array): void {
    if (this.hashes.length < 2 * n) this.hashes = new Int32Array(2 * n);
    const hashes = this.hashes;
    for (let k = 0; k < n; k++) {
      hashes[2 * k] = hashKey(keys[from + k]!);
      hashes[2 * k + 1] = low;
    }
    const { slots, mask } = this;
    for (let k = 0; k < n; k++) {
      const a = hashes[2 * k]!;
      const b = hashes[2 * k + 1]!;
      let entry = -1;
      for (let i = a & mask; slots[3 * i + 2] !== 0; i = (i + 1) & mask) {
        if (slots[3 * i] === a && slots[3 * i + 1] === b) {
          entry = slots[3 * i + 2]! - 1;
          break;
        }
      }
      out[k] = entry;
    }
  }

  /**
   * Read the first bucket of each of `n` hashes given as (entry, high, low) triples, so that the finds and adds that
   * follow hit the cache (the misses of reads in one loop overlap). Returns a value made of them, to be kept.
   */
  warm(triples: Int32Array, n: number): number {
    const { slots, mask } = this;
    let sum = 0;
    for (let k = 0; k < n; k++) sum ^= slots[3 * (triples[3 * k + 1]! & mask) + 2]!;
    return sum;
  }

  /** Add `entry` under `key`'s hash. */
  add(key: string, entry: number): void {
    this.addHashed(hashKey(key), low, entry);
  }

  /** {@link add} by the key's hash halves (see {@link hashAsciiBytes}). */
  addHashed(a: number, b: number, entry: number): void {
    if ((this.count + 1) * 8 > (this.mask + 1) * 5) this.grow();
    this.put(a, b, entry);
    this.count += 1;
  }

  /** Room for `n` keys without growing (sized once to an estimate). */
  reserve(n: number): void {
    let cap = this.mask + 1;
    while (cap * 5 < n * 8) cap *= 2;
    if (cap > this.mask + 1) this.rehash(cap);
  }

  private put(a: number, b: number, entry: number): void {
    const slots = this.slots;
    let i = a & this.mask;
    while (slots[3 * i + 2] !== 0) i = (i + 1) & this.mask;
    slots[3 * i] = a;
    slots[3 * i + 1] = b;
    slots[3 * i + 2] = entry + 1;
  }

  private grow(): void {
    this.rehash((this.mask + 1) * 2);
  }

  private rehash(cap: number): void {
    const old = this.slots;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 3);
    for (let i = 0; i < old.length; i += 3) if (old[i + 2] !== 0) this.put(old[i]!, old[i + 1]!, old[i + 2]! - 1);
  }
}

/** The low half of the last {@link hashKey} (a second return value without an array). */
let low = 0;

/** The high half of `key`'s 64-bit hash as a signed int; the low half is left in {@link low}. */
function hashKey(key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

/** The final mixing of both halves: the high half returned, the low one left in {@link low}. */
function finish(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  low = h2 | 0;
  return h1 | 0;
}

/**
 * The hash halves of the text of `buf[start, end)` in `out` (as {@link hash64} gives them, signed), when every byte is
 * ASCII (then a byte is the string's char code): the index pass hashes a custom_id without making it a string. False
 * for any other byte (hash the string instead).
 */
export function hashAsciiBytes(buf: Uint8Array, start: number, end: number, out: Int32Array): boolean {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return false;
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  out[0] = finish(h1, h2);
  out[1] = low;
  return true;
}

/** The hash halves of `key` in `out` (signed, as {@link hashAsciiBytes} gives them). */
export function hashString(key: string, out: Int32Array): void {
  out[0] = hashKey(key);
  out[1] = low;
}

/** Two independent 32-bit hashes of a string (cyrb53-style mixing), as unsigned ints. */
export function hash64(key: string): [number, number] {
  const high = hashKey(key);
  return [high >>> 0, low >>> 0];
}
