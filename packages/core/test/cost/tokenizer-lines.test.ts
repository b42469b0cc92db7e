import { describe, expect, it } from 'vitest';
import { loadTokenizer, type TokenizerKind } from '../../src/cost/tokenizer.js';
import { parsedLineTokens, requestLineCounter } from '../../src/cost/tokenizer-lines.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

/** A request line as kbatch's request builder writes it (custom_id, method, url, body: model, messages, parameters). */
const line = (messages: Array<{ role: string; content: string }>, tail = ',"temperature":0'): Buffer =>
  Buffer.from(`{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":${JSON.stringify(messages)}${tail}}}`);

// Content that exercises every rule of the fast path: escapes, multibyte text, whitespace the template trims, spaces
// after non-ASCII or escaped characters, unicode spaces, runs of spaces, and an empty content.
const CONTENTS = [
  'Review: I love it, "great" really',
  'a\\b "quoted" \t tab \n newline \r\n crlf \u00e9 é 😀 emoji after',
  '  leading and trailing spaces  ',
  '\nleading newline',
  'trailing newline\n',
  'non-breaking\u00a0 space and\u2003 em space',
  'many     spaces   between     words',
  '日本語 のテキスト and English 12345 67',
  "contractions: I'm, they'LL, it's",
  '',
  'x',
  'ends in café',
  'ends in an emoji 😀',
  '日本語で始まる text',
  'ends in a non-breaking space\u00a0',
  '\u3000starts with an ideographic space',
  'ends in an escaped quote \"',
  'ends in a tab\t',
];

const KINDS: Array<[TokenizerKind, string]> = [
  ['o200k_base', 'gpt-4o-mini'],
  ['llama3', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo'],
  ['llama3', 'Meta-Llama-3-8B-Instruct'],
];

describe('requestLineCounter', () => {
  for (const [kind, model] of KINDS) {
    it(`agrees with the parsed slow path on odd content (${kind}, ${model})`, async () => {
      const tokenizer = await loadTokenizer(kind);
      const count = requestLineCounter(tokenizer, model);
      for (const content of CONTENTS) {
        for (const messages of [[{ role: 'user', content }], [{ role: 'system', content }, { role: 'user', content: `${content} again` }]]) {
          const l = line(messages);
          expect(count(l), JSON.stringify(messages)).toBe(parsedLineTokens(l, tokenizer, model));
          // Twice: the second time every segment comes from the memo.
          expect(count(l), JSON.stringify(messages)).toBe(parsedLineTokens(l, tokenizer, model));
        }
      }
    });

    it(`falls back to the slow path for lines in other shapes (${kind})`, async () => {
      const tokenizer = await loadTokenizer(kind);
      const count = requestLineCounter(tokenizer, model);
      const odd = [
        '{"body":{"messages":[{"content":"keys in another order","role":"user"}],"model":"m"},"custom_id":"r1"}',
        '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"named","name":"bob"}]}}',
        '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}]}}',
        '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"duplicate key wins"}]}}',
        '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"escaped \\u0041 letter"}],"stop":["\\n"]}}',
      ];
      for (const text of odd) expect(count(Buffer.from(text)), text).toBe(parsedLineTokens(Buffer.from(text), tokenizer, model));
      // Invalid UTF-8 is counted as the slow path decodes it (replacement characters).
      const head = '{"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"bad ';
      const invalid = Buffer.concat([Buffer.from(head), Buffer.from([0xff, 0xfe]), Buffer.from(' bytes"}],"temperature":0}}')]);
      expect(count(invalid)).toBe(parsedLineTokens(invalid, tokenizer, model));
    });
  }

  for (const [kind, model] of KINDS) {
    it(`agrees with the parsed slow path when the parts it remembers change from line to line (${kind}, ${model})`, async () => {
      const tokenizer = await loadTokenizer(kind);
      const count = requestLineCounter(tokenizer, model);
      const head = (id: string, m: string): string => `{"custom_id":${JSON.stringify(id)},"method":"POST","url":"/v1/chat/completions","body":{"model":${JSON.stringify(m)},"messages":`;
      const lines = [
        `${head('r1', 'm')}[{"role":"system","content":"Be brief."},{"role":"user","content":"hello there"}],"temperature":0}}`,
        // another custom_id, model, role set and tail: each remembered part is checked again, never assumed
        `${head('r2', 'm')}[{"role":"user","content":"hello there"}],"temperature":0}}`,
        `${head('row-3', 'other-model')}[{"role":"assistant","content":"hello there"},{"role":"user","content":"again"}],"temperature":1,"max_tokens":5}}`,
        `${head('r\\"4', 'm')}[{"role":"user","content":"escaped id"}]}}`,
        `${head('r5', 'm')}[{"role":"sys\\u0074em","content":"escaped role"}]}}`,
        `${head('r6', 'm')}[{"role":"user","content":"a tail with an escape"}],"stop":["\\n"]}}`,
        `${head('r7', 'm')}[{"role":"system","content":"Be brief."}],"temperature":0}}`,
        `${head('r8', 'm')}[],"temperature":0}}`,
        // a remembered content, then longer, shorter, under another role (another prefix) and at another index
        `${head('r10', 'm')}[{"role":"system","content":"Be brief."},{"role":"user","content":"Be brief."}]}}`,
        `${head('r11', 'm')}[{"role":"system","content":"Be brief. Or not."},{"role":"user","content":"Be brief."}]}}`,
        `${head('r12', 'm')}[{"role":"system","content":"Be brief"},{"role":"user","content":"Be brief."}]}}`,
        `${head('r13', 'm')}[{"role":"user","content":"Be brief."},{"role":"system","content":"Be brief."}]}}`,
        // the same words with and without the prefix a first content is counted after
        `${head('r9', 'm')}[{"role":"user","content":"Be brief. Be brief."},{"role":"user","content":"brief. Be"}]}}`,
      ];
      for (const text of [...lines, ...lines]) expect(count(Buffer.from(text)), text).toBe(parsedLineTokens(Buffer.from(text), tokenizer, model));
    });
  }

  for (const [kind, model] of KINDS) {
    it(`agrees with the parsed slow path on lines that end alike after different starts (${kind}, ${model})`, async () => {
      const tokenizer = await loadTokenizer(kind);
      const count = requestLineCounter(tokenizer, model);
      const end = ' Answer with exactly one of: positive, negative, neutral';
      const firsts = ['Review: great', 'Review: great stuff', 'x', 'Review:  two spaces', 'ends in an escape \\"', 'café 😀 日本語', 'Review: great'];
      const lines: string[] = [];
      for (const text of firsts) {
        lines.push(
          `{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"${text}${end}"}],"temperature":0}}`,
          // the same end after a system message (the dated Llama template counts its preamble otherwise)
          `{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"${text}${end}"}],"temperature":0}}`,
          // the same end in another message, then a different tail
          `{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"${text}${end}"}],"temperature":1}}`,
          `{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"${text}${end}"},{"role":"assistant","content":"${end.trim()}"}],"temperature":0}}`,
        );
      }
      for (const text of [...lines, ...lines.reverse()]) expect(count(Buffer.from(text)), text).toBe(parsedLineTokens(Buffer.from(text), tokenizer, model));
    });
  }

  for (const [kind, model] of KINDS) {
    it(`agrees with the parsed slow path where a guard of the fast path decides (${kind}, ${model})`, async () => {
      const tokenizer = await loadTokenizer(kind);
      const count = requestLineCounter(tokenizer, model);
      const own = (content: string | Buffer): Buffer => Buffer.concat([Buffer.from('{"custom_id":"r","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"'), Buffer.from(content), Buffer.from('"}],"temperature":0}}')]);
      const lines = [
        // the same end from a cut at another distance from the line's end (o200k: 11 tokens, not 10)
        own('café Answer now'),
        own('cafe Answer now'),
        // a space after a non-ASCII whitespace or format character is no cut (o200k: "a\u3000  b" is 10 tokens, not 11)
        ...['\u3000', '\ufeff', '\u2028'].flatMap((c) => [own(`a${c}  b`), own(`a ${c}  b`), own(`a${c} ${c}b Answer now`)]),
        // invalid UTF-8 before a cut whose end repeats the last line's: decoded as the slow path does
        own('valid Answer now'),
        own(Buffer.concat([Buffer.from('in'), Buffer.from([0xff, 0xfe]), Buffer.from('valid Answer now')])),
        own(Buffer.concat([Buffer.from([0xc3]), Buffer.from('x Answer now')])),
      ];
      for (const l of [...lines, ...lines]) expect(count(l), l.toString()).toBe(parsedLineTokens(l, tokenizer, model));
      // a tail that starts with the one remembered from the last line and has more bytes after it: not JSON
      expect(count(own('abc'))).toBe(parsedLineTokens(own('abc'), tokenizer, model));
      expectKbatchError(await catchError(() => count(Buffer.concat([own('abc'), Buffer.from(',"x":1}}')]))), { code: 'LINE_INVALID', customId: 'r' });
    });
  }

  it('refuses a \\u escape without 4 hex digits, or one that would swallow the closing quote, as the slow path does', async () => {
    const count = requestLineCounter(await loadTokenizer('o200k_base'), 'gpt-4o');
    const head = '{"custom_id":"u1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"';
    for (const text of [`${head}bad \\u00zz escape"}]}}`, `${head}cut \\u"}]}}`, `${head}short \\u12"}]}}`, `${head}swallows \\u"}]}} "}]}}`, `${head}\\u00e9 then \\u00G1 x"}],"temperature":0}}`]) {
      expectKbatchError(await catchError(() => count(Buffer.from(text))), { code: 'LINE_INVALID', customId: 'u1' });
    }
    const valid = Buffer.from(`${head}ok \\u00e9 \\u00C9 \\uD83D\\uDE00 x"}]}}`);
    expect(count(valid)).toBe(parsedLineTokens(valid, await loadTokenizer('o200k_base'), 'gpt-4o'));
  });

  it('refuses a line that is not a chat request with LINE_INVALID naming its custom_id', async () => {
    const count = requestLineCounter(await loadTokenizer('o200k_base'), 'gpt-4o');
    expectKbatchError(await catchError(() => count(Buffer.from('{"custom_id":"x7","body":{"prompt":"no messages"}}'))), { code: 'LINE_INVALID', customId: 'x7' });
    expectKbatchError(await catchError(() => count(Buffer.from('{"custom_id":"x8", not json'))), { code: 'LINE_INVALID', customId: 'x8' });
  });
});
