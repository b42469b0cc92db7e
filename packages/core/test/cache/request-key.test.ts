import { describe, expect, it } from 'vitest';
import { canonicalJson, requestKey } from '../../src/cache/request-key.js';

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
