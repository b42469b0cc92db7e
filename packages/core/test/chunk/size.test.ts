import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('parseSize', () => {
  it('reads plain bytes, decimal units (KB/MB/GB) and binary units (KiB/MiB/GiB)', () => {
    expect(parseSize('1234')).toBe(1234);
    expect(parseSize(5)).toBe(5);
    expect(parseSize('6GB')).toBe(6_000_000_000);
    expect(parseSize('1.5 mb')).toBe(1_500_000);
    expect(parseSize('512MiB')).toBe(536_870_912);
    expect(parseSize('1KiB')).toBe(1024);
    expect(parseSize('2gib')).toBe(2 * 2 ** 30);
    expect(parseSize('10B')).toBe(10);
  });

  it.each(['', '0', '-1', '1.5', '6 GBs', 'lots', '1e3', 0, -5, 1.5])('refuses %j with OPTION_INVALID', async (value) => {
    expectKbatchError(await catchError(() => parseSize(value as string, 'maxBytes')), { code: 'OPTION_INVALID', field: 'maxBytes' });
  });
});
