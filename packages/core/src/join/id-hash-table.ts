/**
 * An open-addressing hash table from a string key's 64-bit hash to entry numbers, kept in typed
 * arrays: no per-key heap objects, so a million keys cost ~24 MB off-heap and add no GC work.
 * It stores hashes, not keys: callers confirm a hit against the real key (kept elsewhere, e.g. on
 * disk), so even a 64-bit collision between two keys stays correct.
 */
export class IdHashTable {
  private mask: number;
  private hi: Uint32Array;
  private lo: Uint32Array;
  private entry: Int32Array;
  private count = 0;

  constructor(capacity = 1024) {
    let cap = 1024;
    while (cap < capacity * 2) cap *= 2;
    this.mask = cap - 1;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.entry = new Int32Array(cap).fill(-1);
  }

  /**
   * The first entry with `key`'s hash that `accept` confirms (it checks the real key), or -1.
   * Different keys with equal hashes simply sit side by side; `accept` tells them apart.
   */
  find(key: string, accept: (entry: number) => boolean): number {
    const [a, b] = hash64(key);
    for (let i = a & this.mask; this.entry[i] !== -1; i = (i + 1) & this.mask) {
      if (this.hi[i] === a && this.lo[i] === b && accept(this.entry[i]!)) return this.entry[i]!;
    }
    return -1;
  }

  /** Add `entry` under `key`'s hash. */
  add(key: string, entry: number): void {
    if ((this.count + 1) * 2 > this.entry.length) this.grow();
    const [a, b] = hash64(key);
    this.put(a, b, entry);
    this.count += 1;
  }

  private put(a: number, b: number, entry: number): void {
    let i = a & this.mask;
    while (this.entry[i] !== -1) i = (i + 1) & this.mask;
    this.hi[i] = a;
    this.lo[i] = b;
    this.entry[i] = entry;
  }

  private grow(): void {
    const { hi, lo, entry } = this;
    const cap = entry.length * 2;
    this.mask = cap - 1;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.entry = new Int32Array(cap).fill(-1);
    for (let i = 0; i < entry.length; i++) if (entry[i] !== -1) this.put(hi[i]!, lo[i]!, entry[i]!);
  }
}

/** Two independent 32-bit hashes of a string (cyrb53-style mixing), as unsigned ints. */
export function hash64(key: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}
