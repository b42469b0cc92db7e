import { KbatchError } from '../errors.js';

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parse a byte size: a plain number is bytes; KB/MB/GB/TB are powers of 1000 and KiB/MiB/GiB/TiB powers of
 * 1024 (case-insensitive, optional space, decimals allowed when the result is a whole number of bytes).
 * kluster's "6GB" file limit is read as 6,000,000,000 bytes, the smaller (safe) reading.
 * @throws KbatchError OPTION_INVALID for anything else
 * @example parseSize('6GB') // 6_000_000_000; parseSize('512MiB') // 536_870_912
 */
export function parseSize(value: string | number, option = 'size'): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value > 0) return value;
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = match ? UNITS[(match[2] || 'b').toLowerCase()] : undefined;
    if (match && unit !== undefined) {
      const bytes = Number(match[1]) * unit;
      const rounded = Math.round(bytes);
      if (Math.abs(bytes - rounded) < 1e-6 && rounded > 0 && Number.isSafeInteger(rounded)) return rounded;
    }
  }
  throw new KbatchError(
    'OPTION_INVALID',
    `Invalid option \`${option}\`: must be a positive whole number of bytes, optionally with a unit (KB, MB, GB, KiB, MiB, GiB), got ${JSON.stringify(value)}`,
    { field: option },
  );
}
