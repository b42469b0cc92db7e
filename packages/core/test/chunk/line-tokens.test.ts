import { describe, expect, it } from 'vitest';
import { estimateLineTokens, lineMemo, parseLineTokens, scanLineTokens } from '../../src/chunk/line-tokens.js';
import { estimatePromptTokens, estimateTokens } from '../../src/realtime/estimate-tokens.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

// One reader's memo for the fast path's lines here: each line is also checked against the header and tail of the last.
const memo = lineMemo();

const messages = [
  { role: 'system', content: 'Réponds en français. "quoted" \\ back\nslash' },
  { role: 'user', content: 'é😀 \u2028 tab\t and 漢字' },
];

describe('estimateLineTokens', () => {
  it("estimates a request line's prompt as the realtime limiter does, without the completion budget", () => {
    const body = { model: 'm', messages, max_completion_tokens: 500 };
    const line = Buffer.from(JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body }));
    expect(estimateLineTokens(line)).toBe(estimatePromptTokens(body));
    expect(estimateLineTokens(line)).toBe(estimateTokens(body as never) - 500);
  });

  // The line is read as JSON, so escapes, \u sequences and key order give the same count as the decoded body.
  it('counts the same for escaped unicode, keys in another order and array contents', () => {
    const plain = Buffer.from(JSON.stringify({ custom_id: 'a', body: { model: 'm', messages } }));
    const escaped = Buffer.from(JSON.stringify({ body: { messages, model: 'm' }, custom_id: 'a' }).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    expect(escaped.toString()).not.toContain('é');
    expect(estimateLineTokens(escaped)).toBe(estimateLineTokens(plain));
    const parts = [{ role: 'user', content: [{ type: 'text', text: 'abc' }] }];
    expect(estimateLineTokens(Buffer.from(JSON.stringify({ custom_id: 'p', body: { messages: parts } })))).toBe(estimatePromptTokens({ messages: parts as never }));
  });

  it('refuses a line whose tokens cannot be estimated with LINE_INVALID naming its custom_id', async () => {
    for (const text of ['{"custom_id":"x","body":{}}', '{"custom_id":"x","body":{"messages":[null]}}', '{"custom_id":"x", oops}']) {
      expectKbatchError(await catchError(() => estimateLineTokens(Buffer.from(text))), { code: 'LINE_INVALID', customId: 'x', field: 'maxBatchTokens' });
    }
  });
});

// What the slow path says of a line: its estimate, or the code it throws.
const slow = (line: Buffer): number | string => {
  try {
    return parseLineTokens(line);
  } catch (err) {
    return (err as { code: string }).code;
  }
};
const both = (line: Buffer): number | string => {
  try {
    return estimateLineTokens(line, memo);
  } catch (err) {
    return (err as { code: string }).code;
  }
};

// A deterministic pseudo-random source, so a failure names a reproducible case.
function random(seed: number): () => number {
  // Math.imul: a float product loses its low bits past 2^53 and the sequence falls into a short cycle.
  return () => ((seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);
}

const PIECES = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u007f', 'é', '日本', '😀', '\u2028', '\ud800', '\udfff', '{', '}', '[', ']', ',', ':', 'messages', '\\u0041'];

function text(next: () => number): string {
  let out = '';
  for (let n = Math.floor(next() * 12); n > 0; n--) out += PIECES[Math.floor(next() * PIECES.length)]!;
  return out;
}

// kbatch's own shape: the fast path's case (parameters after the messages that hold an escape are left to the slow path).
function ownLine(next: () => number, stop = text(next)): string {
  const messages = Array.from({ length: Math.floor(next() * 4) }, () => ({ role: next() < 0.5 ? 'user' : text(next), content: text(next) }));
  const params = next() < 0.5 ? {} : { temperature: 0, max_completion_tokens: 5, stop: [stop], logit_bias: { '12': -100 } };
  return JSON.stringify({ custom_id: text(next) || 'id', method: 'POST', url: '/v1/chat/completions', body: { model: text(next), messages, ...params } });
}

// Ways a line can differ from kbatch's own shape while staying (or not staying) JSON.
const VARIANTS: Array<(line: string, next: () => number) => string> = [
  (l) => l.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  (l) => l.replace(/}}$/, ',"messages":[{"role":"user","content":"second"}]}}'),
  (l) => l.replace(/}}$/, ',"mess\\u0061ges":[]}}'),
  (l) => l.replace(/}}$/, '},"body":{"messages":[]}}'),
  (l) => l.replace(/}}$/, ',"extra": 1e5 }  }'),
  (l) => l.replace(/}}$/, ',"bad":01}}'),
  (l) => l.replace('"role":', '"role" :'),
  (l) => l.replace(/"content":("(?:[^"\\]|\\.)*")/, '"content":$1,"name":"n"'),
  (l) => l.replace(/"content":"/, '"content":"\\q'),
  (l) => l.replace(/"content":"/, '"content":"\\u12G4'),
  (l) => l.replace(/"content":"/, '"content":"\u0001'),
  (l) => l.slice(0, Math.max(1, l.length - 3)) + '}',
  (l, next) => l.slice(0, Math.floor(next() * l.length)),
  (l) => l.replace('{"custom_id"', '{"method":"POST","custom_id"'),
  (l) => l.replace('"messages":[', '"messages":[null,'),
  (l) => l.replace(/"content":"[^"]*"/, '"content":[{"type":"text","text":"abc"}]'),
];

describe('scanLineTokens (the fast path)', () => {
  it("counts kbatch's own lines from their bytes, agreeing with the parsed estimate", () => {
    const next = random(13);
    for (let n = 0; n < 3_000; n++) {
      const line = Buffer.from(ownLine(next, 'END'));
      expect(scanLineTokens(line, memo), line.toString()).toBe(parseLineTokens(line));
    }
  });

  it('agrees with the slow path on odd lines (escapes, duplicate and escaped keys, other orders, malformed), or leaves them to it', () => {
    const next = random(7);
    let fast = 0;
    for (let n = 0; n < 3_000; n++) {
      const line = Buffer.from(VARIANTS[n % VARIANTS.length]!(ownLine(next), next));
      const scanned = scanLineTokens(line, memo);
      if (scanned !== undefined) fast++;
      if (scanned !== undefined) expect(scanned, line.toString()).toBe(slow(line));
      expect(both(line), line.toString()).toBe(slow(line));
    }
    expect(fast).toBeGreaterThan(100);
  });

  it('checks each line again after a line it remembered the header and tail of (another model, an odd tail)', () => {
    const head = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":';
    const lines = [
      `${head}"m","messages":[{"role":"user","content":"abc"}],"temperature":0}}`,
      `${head}"m2","messages":[{"role":"user","content":"abc"}],"temperature":0}}`,
      `${head}"m","messages":[{"role":"user","content":"abc"}],"messages":[]}}`,
      `${head}"m","messages":[{"role":"user","content":"abc"}],"temperature":0}}`,
      `${head}"m","messages":[{"role":"user","content":"abc"}],"temperature":0,}}`,
      `{"custom_id":"b","method":"POST","url":"/v1/embeddings","body":{"model":"m","messages":[{"role":"user","content":"abc"}],"temperature":0}}`,
    ];
    const verdicts = lines.map((l) => scanLineTokens(Buffer.from(l), memo));
    expect(verdicts).toEqual([5, 5, undefined, 5, undefined, undefined]);
  });

  it('leaves to the slow path a tail that starts with the tail it remembered and has more bytes after it', async () => {
    const head = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"abc"}]';
    const lines = [`${head},"temperature":0}}`, `${head},"temperature":0}},"x":1}}`, `${head},"temperature":0}}}`, `${head},"temperature":0}} `];
    expect(lines.map((l) => scanLineTokens(Buffer.from(l), memo))).toEqual([5, undefined, undefined, undefined]);
    for (const l of lines.slice(1, 3)) expectKbatchError(await catchError(() => estimateLineTokens(Buffer.from(l), memo)), { code: 'LINE_INVALID', customId: 'a' });
  });

  it('leaves invalid UTF-8 to the slow path (which reads it as replacement characters)', () => {
    const line = Buffer.concat([Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"'), Buffer.from([0xe9, 0xff, 0xc3]), Buffer.from('"}]}}')]);
    expect(scanLineTokens(line, memo)).toBeUndefined();
    expect(estimateLineTokens(line)).toBe(parseLineTokens(line));
  });
});
