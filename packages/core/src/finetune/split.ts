/**
 * Deterministic train/validation assignment: hashes (seed, record index) to [0, 1), so a record's side
 * depends only on the seed and its row number — not on order, other rows or skipped rows — and streams.
 * The validation share is `validationSplit` on average; tiny datasets can land a little off (or at 0).
 * @param index - 1-based record number
 * @param seed - any integer
 * @param validationSplit - share in [0, 1)
 */
export function isValidationRow(index: number, seed: number, validationSplit: number): boolean {
  if (validationSplit <= 0) return false;
  return unitHash(index, seed) < validationSplit;
}

// splitmix32-style finaliser over (seed, index): cheap, well mixed, stable across platforms.
function unitHash(index: number, seed: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index | 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad);
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
  h ^= h >>> 15;
  return (h >>> 0) / 2 ** 32;
}
