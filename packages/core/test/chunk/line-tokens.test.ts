import { describe, expect, it } from 'vitest';
import { estimateLineTokens } from '../../src/chunk/line-tokens.js';
import { estimatePromptTokens, estimateTokens } from '../../src/realtime/estimate-tokens.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

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
