// The usual JSON Lines record read from its bytes: JSON.parse internalizes every string value of up to 10 characters
// (ids, dates, codes), which costs more than the parse itself when they are all different (measured: 1.2 s against
// 0.5 s for a million 3-field lines), so the flat ASCII object most inputs hold is read here instead.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Integer digits read exactly as a double (JSON.parse gives the same number); a longer number takes JSON.parse. */
const MAX_DIGITS = 15;

/**
 * The object of the JSON line `buf[start, end)` when it is a flat object written without blanks, every byte printable
 * ASCII: keys without escapes (not `__proto__`, not starting with a digit, none repeated), values strings without
 * escapes, integers of at most 15 digits, `true`, `false` or `null`. Null for any other line — nesting, blanks,
 * escapes, other bytes, fractions, malformed JSON — which then takes JSON.parse: so whatever this reads, JSON.parse
 * reads the same (same keys in the same order, same values; the tests hold the two side by side).
 * @param keys - the keys of the previous line, by position (reused when the bytes match: no string made per key)
 */
export function parseFlatJsonLine(buf: Buffer, start: number, end: number, keys: string[]): Record<string, unknown> | null {
  let i = start;
  if (buf[i] !== 0x7b) return null;
  const data: Record<string, unknown> = {};
  if (buf[++i] === 0x7d) return i + 1 === end ? data : null;
  for (let n = 0; ; n++) {
    if (buf[i] !== QUOTE) return null;
    const keyEnd = stringEnd(buf, i + 1, end);
    if (keyEnd === -1 || keyEnd === i + 1 || isDigit(buf[i + 1]!)) return null;
    const key = keyAt(buf, i + 1, keyEnd, keys, n);
    if (key === '__proto__' || Object.hasOwn(data, key)) return null;
    i = keyEnd + 1;
    if (buf[i] !== 0x3a) return null;
    i++;
    const b = buf[i];
    if (b === QUOTE) {
      const valueEnd = stringEnd(buf, i + 1, end);
      if (valueEnd === -1) return null;
      data[key] = latin1(buf, i + 1, valueEnd);
      i = valueEnd + 1;
    } else if (b === 0x74 || b === 0x66 || b === 0x6e) {
      const after = literalEnd(buf, i, end);
      if (after === -1) return null;
      data[key] = b === 0x74 ? true : b === 0x66 ? false : null;
      i = after;
    } else {
      const after = integerEnd(buf, i, end);
      if (after === -1) return null;
      data[key] = integer(buf, i, after);
      i = after;
    }
    if (buf[i] === 0x2c) i++;
    else return buf[i] === 0x7d && i + 1 === end ? data : null;
  }
}

/** The closing quote of the string whose text starts at `i`, or -1 (an escape, a control or non-ASCII byte, no end). */
function stringEnd(buf: Uint8Array, i: number, end: number): number {
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === QUOTE) return i;
    if (b === BACKSLASH || b < 0x20 || b > 0x7e) return -1;
  }
  return -1;
}

/** The key `buf[from, to)`: the previous line's key at position `n` when the bytes match, else a new string kept there. */
function keyAt(buf: Buffer, from: number, to: number, keys: string[], n: number): string {
  const known = keys[n];
  if (known !== undefined && known.length === to - from) {
    let k = 0;
    while (k < known.length && buf[from + k] === known.charCodeAt(k)) k++;
    if (k === known.length) return known;
  }
  const key = latin1(buf, from, to);
  keys[n] = key;
  return key;
}

/** After `true`, `false` or `null` at `i`, or -1. */
function literalEnd(buf: Uint8Array, i: number, end: number): number {
  const word = buf[i] === 0x74 ? 'true' : buf[i] === 0x66 ? 'false' : 'null';
  if (i + word.length > end) return -1;
  for (let k = 1; k < word.length; k++) if (buf[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** After the JSON integer at `i` (`-?(0|[1-9][0-9]*)`, at most 15 digits, no fraction or exponent after it), or -1. */
function integerEnd(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] === 0x2d) i++;
  const first = i;
  while (i < end && isDigit(buf[i]!)) i++;
  const digits = i - first;
  if (digits === 0 || digits > MAX_DIGITS || (buf[first] === 0x30 && digits > 1)) return -1;
  const b = buf[i];
  return b === 0x2e || b === 0x65 || b === 0x45 ? -1 : i;
}

/** The integer `buf[from, to)` (as {@link integerEnd} accepted it): exact, and -0 for `-0` as JSON.parse gives. */
function integer(buf: Uint8Array, from: number, to: number): number {
  const negative = buf[from] === 0x2d;
  let n = 0;
  for (let k = negative ? from + 1 : from; k < to; k++) n = n * 10 + (buf[k]! - 0x30);
  return negative ? -n : n;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** ASCII bytes as a string (Latin-1 is their UTF-8 text, and cheaper to decode). */
function latin1(buf: Buffer, from: number, to: number): string {
  return buf.toString('latin1', from, to);
}
