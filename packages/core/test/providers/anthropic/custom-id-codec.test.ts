import { describe, expect, it } from 'vitest';
import { ANTHROPIC_CUSTOM_ID, chunkTag, decodeCustomId, ENCODABLE_CUSTOM_ID, encodeCustomId, tagOf } from '../../../src/providers/anthropic/custom-id-codec.js';
import { catchError, expectKbatchError } from '../../helpers/errors.js';

const TAG = chunkTag('0A1B2C3D4E5F');
const ODD_IDS = ['row-1', 'a b', 'é', '日本語のID', '__x', '__', '"quoted"', 'line\nbreak', 'x'.repeat(55), 'y'.repeat(38) + '!', '🙂'.repeat(4), 'k_0-9', 'a/b\\c', '{"json":1}', '0a1b2c3d_row'];

describe('encodeCustomId', () => {
  it("sends each id behind the chunk's tag: as it is when Anthropic accepts it, else __ + base64url; decoded back exactly", () => {
    expect(TAG).toBe('0a1b2c3d');
    expect(encodeCustomId('row-1', TAG)).toBe('0a1b2c3d_row-1');
    expect(encodeCustomId('a b', TAG)).toBe('0a1b2c3d___YSBi');
    for (const id of ODD_IDS) {
      const sent = encodeCustomId(id, TAG);
      expect(sent).toMatch(ANTHROPIC_CUSTOM_ID);
      expect([tagOf(sent), decodeCustomId(sent)]).toEqual([TAG, id]);
    }
  });

  it('encodes a valid id that starts with __, so a sent __-id always decodes', () => {
    expect(encodeCustomId('__abc', TAG)).not.toBe('0a1b2c3d___abc');
    expect(decodeCustomId(encodeCustomId('__abc', TAG))).toBe('__abc');
  });

  it('leaves an untagged id (a batch kbatch did not send) as it is', () => {
    expect([tagOf('row-1'), decodeCustomId('row-1')]).toEqual([null, 'row-1']);
  });

  it('refuses an id too long to encode, and one that is not valid Unicode, with LINT_FAILED naming the id', async () => {
    expectKbatchError(await catchError(() => encodeCustomId('é'.repeat(20), TAG)), { code: 'LINT_FAILED', customId: 'é'.repeat(20), message: 'provider anthropic' });
    expectKbatchError(await catchError(() => encodeCustomId('\ud800', TAG)), { code: 'LINT_FAILED' });
  });

  it("agrees with the profile's lint pattern: every id the pattern passes encodes (the pattern is the safe side)", () => {
    const pattern = new RegExp(ENCODABLE_CUSTOM_ID);
    for (const id of [...ODD_IDS, 'é'.repeat(20), 'z'.repeat(65), '__' + 'a'.repeat(53), 'a'.repeat(40) + ' ', '🙂'.repeat(5)]) {
      if (pattern.test(id)) expect(() => encodeCustomId(id, TAG), id).not.toThrow();
    }
    expect([pattern.test('é'.repeat(20)), pattern.test('z'.repeat(56)), pattern.test('row-1')]).toEqual([false, false, true]);
  });
});
