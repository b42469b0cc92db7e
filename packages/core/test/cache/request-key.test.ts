import { describe, expect, it } from 'vitest';
import { canonicalBody, canonicalJson, readRequestHead, requestKey, requestLineKeys } from '../../src/cache/request-key.js';
import { createRequestBuilder } from '../../src/request/to-batch-request.js';

const body = { model: 'm', messages: [{ role: 'user', content: 'Review: é "quoted" \\ \u2028' }], temperature: 0 };

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes each number in one form', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2.0, c: 'x' }], e: 1e2, f: -0, g: undefined })).toBe('{"a":[{"c":"x","d":2}],"b":1,"e":100,"f":0}');
    expect(canonicalJson(JSON.parse('{"x": 1.50, "y": [1E3, null]}'))).toBe('{"x":1.5,"y":[1000,null]}');
  });
});

describe('requestKey', () => {
  it('is the same for bodies that differ only in key order, number form or escapes', () => {
    const reordered = JSON.parse('{"temperature":0.0,"messages":[{"content":"Review: \\u00e9 \\"quoted\\" \\\\ \\u2028","role":"user"}],"model":"m"}');
    expect(requestKey({ provider: 'kluster', body: reordered }).equals(requestKey({ provider: 'kluster', body }))).toBe(true);
    expect(requestKey({ provider: 'kluster', body })).toHaveLength(32);
  });

  it('changes with anything that changes the answer: provider, model, messages, parameters', () => {
    const key = requestKey({ provider: 'kluster', body }).toString('hex');
    const others = [
      requestKey({ provider: 'openai', body }),
      requestKey({ provider: 'kluster', body: { ...body, model: 'n' } }),
      requestKey({ provider: 'kluster', body: { ...body, temperature: 0.5 } }),
      requestKey({ provider: 'kluster', body: { ...body, messages: [{ role: 'user', content: 'Review: e' }] } }),
      requestKey({ provider: 'kluster', body: { ...body, response_format: { type: 'json_object' } } }),
    ].map((k) => k.toString('hex'));
    expect(new Set([key, ...others]).size).toBe(6);
  });
});

const OPTIONS = [
  { model: 'm', prompt: 'Review: {{text}}' },
  { model: 'klusterai/Llama-3.1', prompt: 'Say {{text}}', system: 'Be brief, {{who}}', temperature: 0.7, maxCompletionTokens: 5, seed: 3, stop: ['\n', 'END'], topP: 1, logitBias: { '1234': -100 }, logprobs: true, topLogprobs: 2, frequencyPenalty: -0.5, presencePenalty: 2 },
];
const RECORD = { index: 1, line: 2, data: { text: 'é "quoted" \\ \u2028 \u0001 😀', who: 'friend' } };

/** The byte key of a rendered line, or null when the fast path cannot read it. */
function byteKey(line: string, provider = 'kluster'): Buffer | null {
  const bytes = Buffer.from(line);
  const head = readRequestHead(bytes);
  return head === null ? null : requestLineKeys(provider).of(bytes, head);
}

describe('requestLineKeys', () => {
  it("keys a line kbatch rendered from its bytes, equal to requestKey of the parsed body (the fallback's key)", () => {
    for (const options of OPTIONS) {
      const line = createRequestBuilder(options).toLine(RECORD);
      const parsed = JSON.parse(line) as { body: Record<string, unknown> };
      expect(byteKey(line)?.equals(requestKey({ provider: 'kluster', body: parsed.body }))).toBe(true);
      // The line's body bytes are its canonical body: what makes the two keys agree.
      expect(line).toContain(`"body":${canonicalBody(parsed.body)}}`);
    }
  });

  it('is the same for the same request rendered twice (another custom_id) and differs for any changed field', () => {
    const key = (options: object, record = RECORD, provider = 'kluster') => byteKey(createRequestBuilder({ ...OPTIONS[1]!, ...options }).toLine(record), provider)!.toString('hex');
    expect(key({}, { ...RECORD, index: 7 })).toBe(key({}));
    expect(key({ idColumn: 'who' })).toBe(key({}));
    const changed = [
      key({}, RECORD, 'openai'),
      key({ model: 'other' }),
      key({ temperature: 0.8 }),
      key({ system: 'Be long, {{who}}' }),
      key({ stop: ['\n'] }),
      key({ seed: 4 }),
      key({}, { ...RECORD, data: { ...RECORD.data, text: 'e' } }),
    ];
    expect(new Set([key({}), ...changed]).size).toBe(changed.length + 1);
  });

  it('reads no line it cannot vouch for: escapes in the custom_id or model, other key orders, spaces, a cut line', () => {
    const line = createRequestBuilder(OPTIONS[0]!).toLine(RECORD);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const others = [
      line.replace('"row-1"', '"row-\\"1"'),
      line.replace('"row-1"', '"row-\\u0031"'),
      line.replace('{"model":"m"', '{"model":"\\u006d"'),
      JSON.stringify({ method: 'POST', custom_id: 'row-1', url: '/v1/chat/completions', body: parsed['body'] }),
      JSON.stringify(parsed, null, 1).replace(/\n/g, ''),
      line.slice(0, -1),
      line.replace('"body":{"model":"m","messages"', '"body":{"messages"'),
    ];
    for (const other of others) expect(byteKey(other), other).toBeNull();
  });
});
