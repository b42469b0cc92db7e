import { describe, expect, it } from 'vitest';
import { LineScanner } from '../../src/cost/line-scanner.js';
import { loadTokenizer } from '../../src/cost/tokenizer.js';
import { parsedLineTokens } from '../../src/cost/tokenizer-lines.js';

const own = (content: Buffer): Buffer =>
  Buffer.concat([Buffer.from('{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"'), content, Buffer.from('"}],"temperature":0}}')]);

describe('LineScanner', () => {
  it("leaves a line with invalid UTF-8 to the slow path, also when its end repeats the last line's", async () => {
    const tokenizer = await loadTokenizer('o200k_base');
    const scanner = new LineScanner(tokenizer, 'gpt-4o-mini');
    const valid = own(Buffer.from('valid Answer now'));
    expect(scanner.count(valid)).toBe(parsedLineTokens(valid, tokenizer, 'gpt-4o-mini'));
    // " Answer now" repeats the last line's end from a cut: the scan stops there, yet the bytes before it are invalid
    for (const bad of [[0xff, 0xfe], [0xc3], [0xed, 0xa0, 0x80]]) {
      expect(scanner.count(own(Buffer.concat([Buffer.from('in'), Buffer.from(bad), Buffer.from('valid Answer now')])))).toBe(-1);
      expect(scanner.count(own(Buffer.concat([Buffer.from(bad), Buffer.from('x Answer now')])))).toBe(-1);
    }
    expect(scanner.count(valid)).toBe(parsedLineTokens(valid, tokenizer, 'gpt-4o-mini'));
  });
});
