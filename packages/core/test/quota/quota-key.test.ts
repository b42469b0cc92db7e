import { describe, expect, it } from 'vitest';
import { keyFingerprint, quotaKey } from '../../src/quota/quota-key.js';

describe('keyFingerprint', () => {
  it('gives one fingerprint for a base URL with or without its trailing slash, another for another key or server', () => {
    const fp = keyFingerprint('sk-test', 'https://api.openai.com/v1');
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(keyFingerprint('sk-test', 'https://api.openai.com/v1/')).toBe(fp);
    expect(keyFingerprint('sk-other', 'https://api.openai.com/v1')).not.toBe(fp);
    expect(keyFingerprint('sk-test', 'https://api.together.xyz/v1')).not.toBe(fp);
    expect(fp).not.toContain('sk-test');
  });
});

describe('quotaKey', () => {
  it('joins provider, fingerprint and model', () => {
    expect(quotaKey({ provider: 'openai', fingerprint: 'abc', model: 'gpt-4o-mini' })).toBe('openai/abc/gpt-4o-mini');
  });
});
