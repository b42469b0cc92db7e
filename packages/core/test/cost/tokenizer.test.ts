import { describe, expect, it } from 'vitest';
import { countTokens as o200kWhole } from 'gpt-tokenizer/encoding/o200k_base';
import llama3 from 'llama3-tokenizer-js';
import { loadTokenizer, tokenizerKind } from '../../src/cost/tokenizer.js';

// Strings where pre-tokenization matters: contractions, case runs, digits, whitespace runs, newlines, CJK, emoji, marks.
const ODD = [
  '',
  "I'm sure they'LL say it's FINE, isn't it?",
  'HTTPServer2 parses 1234567 tokens; ABCdef GHI',
  'tabs\t\tand   spaces   \n\n\r\n  trailing   ',
  '日本語のテキストとEnglish mixed 12345!\n',
  'emoji 😀👍🏽 and combining é (e\u0301) naïve café',
  'path/to/file.ts:12 // a comment\n/* block */',
  '<|endoftext|> and <|eot_id|> are only text here',
  '\u00a0non-breaking\u00a0 spaces\u2003and\u3000ideographic',
  'a\n\n\nb   \n   c',
];

describe('loadTokenizer', () => {
  it('counts o200k_base as tiktoken\'s own test vectors do ("hello world" is [24912, 2375])', async () => {
    // openai/tiktoken tests (o200k_base): "hello world" → [24912, 2375]; " 日本語とEnglish 12345!\n" → 8 tokens; "a\n\n" → [64, 279].
    const o200k = await loadTokenizer('o200k_base');
    expect(o200k.name).toBe('o200k_base (gpt-tokenizer)');
    expect(o200k.count('hello world')).toBe(2);
    expect(o200k.count(' 日本語とEnglish 12345!\n')).toBe(8);
    expect(o200k.count('a\n\n')).toBe(2);
    expect(o200k.count('<|endoftext|>')).toBe(7);
  });

  it("counts Llama 3 as llama3-tokenizer-js's own test vectors do", async () => {
    // The package's defaultTests(): "grabbed" [59312, 2788], " grabbed" [30418], "           grabbed" [1881, 30418],
    // "\n" [198], " \n" [720], "\ttabs\t\t\t\tout here" 5 ids, "ax\n####\nboo" 4 ids, '镇' 1, '🦙' 3, '🦙Ꙋ' 6,
    // 'This is a test sentence.' [2028, 374, 264, 1296, 11914, 13].
    const l3 = await loadTokenizer('llama3');
    const vectors: Array<[string, number]> = [
      ['grabbed', 2],
      [' grabbed', 1],
      ['           grabbed', 2],
      ['\n', 1],
      [' \n', 1],
      ['\ttabs\t\t\t\tout here', 5],
      ['ax\n####\nboo', 4],
      ['镇', 1],
      ['🦙', 3],
      ['🦙Ꙋ', 6],
      ['This is a test sentence.', 6],
    ];
    for (const [text, n] of vectors) expect(l3.count(text), JSON.stringify(text)).toBe(n);
  });

  it('counts piece by piece exactly as each package counts the whole text (odd inputs, repeated to hit the memo)', async () => {
    const o200k = await loadTokenizer('o200k_base');
    const l3 = await loadTokenizer('llama3');
    for (const text of [...ODD, ...ODD, ODD.join(' ')]) {
      expect(o200k.count(text), JSON.stringify(text)).toBe(o200kWhole(text, { disallowedSpecial: new Set() }));
      // The package maps special-token text to one token; kbatch counts it as the text it is in a request.
      if (!text.includes('<|')) expect(l3.count(text), JSON.stringify(text)).toBe(llama3.encode(text, { bos: false, eos: false }).length);
    }
  });

  it('says the approximation is one (characters / 4)', async () => {
    const approx = await loadTokenizer('approximate');
    expect(approx.exact).toBe(false);
    expect(approx.name).toMatch(/^approximate/);
    expect(approx.count('abcdefgh')).toBe(2);
  });
});

describe('tokenizerKind', () => {
  it('maps OpenAI o200k models, Llama 3.x ids of every provider, and approximates the rest', () => {
    for (const m of ['gpt-4o', 'gpt-4o-mini-2024-07-18', 'gpt-4.1-nano', 'gpt-5-mini', 'o3-mini', 'o4-mini', 'gpt-oss-120b', 'openai/gpt-oss-20b']) expect(tokenizerKind(m), m).toBe('o200k_base');
    for (const m of ['klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', 'meta-llama/Llama-3.3-70B-Instruct-Turbo', 'llama-3.1-8b-instant', 'Meta-Llama-3-8B']) expect(tokenizerKind(m), m).toBe('llama3');
    for (const m of ['claude-sonnet-4-20250514', 'gemini-2.5-flash', 'meta-llama/Llama-4-Scout-17B-16E-Instruct', 'gpt-4', 'gpt-3.5-turbo', 'deepseek-ai/DeepSeek-R1']) expect(tokenizerKind(m), m).toBe('approximate');
  });
});
