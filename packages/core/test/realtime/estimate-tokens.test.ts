import { describe, expect, it } from 'vitest';
import { estimatePromptTokens, estimateTokens } from '../../src/realtime/estimate-tokens.js';

describe('estimateTokens', () => {
  it('counts characters / 4 plus 4 per message plus the completion budget', () => {
    expect(
      estimateTokens({
        model: 'm',
        messages: [
          { role: 'system', content: 'abcd' },
          { role: 'user', content: 'abcdefghi' },
        ],
        max_completion_tokens: 100,
      }),
    ).toBe(Math.ceil(13 / 4) + 8 + 100);
  });

  it('falls back to max_tokens, then to no completion budget', () => {
    const messages = [{ role: 'user' as const, content: 'abcd' }];
    expect(estimateTokens({ model: 'm', messages, max_tokens: 7 } as never)).toBe(1 + 4 + 7);
    expect(estimateTokens({ model: 'm', messages })).toBe(5);
  });
});

describe('estimatePromptTokens', () => {
  it('counts characters / 4 plus 4 per message, without any completion budget', () => {
    const messages = [{ role: 'user' as const, content: 'abcdefgh' }];
    expect(estimatePromptTokens({ messages })).toBe(2 + 4);
    expect(estimateTokens({ model: 'm', messages, max_completion_tokens: 9 })).toBe(estimatePromptTokens({ messages }) + 9);
  });
});
