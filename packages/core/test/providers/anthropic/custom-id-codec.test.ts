import { describe, expect, it } from 'vitest';
import { ANTHROPIC_CUSTOM_ID, decodeCustomId, ENCODABLE_CUSTOM_ID, encodeCustomId } from '../../../src/providers/anthropic/custom-id-codec.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const ODD_IDS = ['row-1', 'a b', 'é', '日本語のID', '__x', '__', '"quoted"', 'line\nbreak', 'x'.repeat(64), 'y'.repeat(45) + '!', '🙂'.repeat(5), 'k_0-9', 'a/b\\c', '{"json":1}'];

describe('encodeCustomId', () => {
  it("sends ids Anthropic accepts as they are, and every other encodable id as __ + base64url, decoded back exactly", () => {
    expect(encodeCustomId('row-1')).toBe('row-1');
    expect(encodeCustomId('a b')).toBe('__YSBi');
    for (const id of ODD_IDS) {
      const sent = encodeCustomId(id);
      expect(sent).toMatch(ANTHROPIC_CUSTOM_ID);
      expect(decodeCustomId(sent)).toBe(id);
    }
  });

  it('encodes a valid id that starts with __, so a sent __-id always decodes', () => {
    expect(encodeCustomId('__abc')).not.toBe('__abc');
    expect(decodeCustomId(encodeCustomId('__abc'))).toBe('__abc');
  });

  it('refuses an id too long to encode, and one that is not valid Unicode, with LINT_FAILED naming the id', async () => {
    expectKbatchError(await catchError(() => encodeCustomId('é'.repeat(24))), { code: 'LINT_FAILED', customId: 'é'.repeat(24), message: 'provider anthropic' });
    expectKbatchError(await catchError(() => encodeCustomId('\ud800')), { code: 'LINT_FAILED' });
  });

  it("agrees with the profile's lint pattern: every id the pattern passes encodes (the pattern is the safe side)", () => {
    const pattern = new RegExp(ENCODABLE_CUSTOM_ID);
    for (const id of [...ODD_IDS, 'é'.repeat(24), 'z'.repeat(65), '__' + 'a'.repeat(60), 'a'.repeat(47) + ' ']) {
      if (pattern.test(id)) expect(() => encodeCustomId(id), id).not.toThrow();
    }
    expect(pattern.test('é'.repeat(24))).toBe(false);
    expect(pattern.test('z'.repeat(65))).toBe(false);
  });
});
