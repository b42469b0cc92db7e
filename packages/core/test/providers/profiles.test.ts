import { describe, expect, it } from 'vitest';
import { PROVIDER_PROFILES } from '../../src/providers/profiles.js';
import { ProviderProfileSchema } from '../../src/providers/provider-profile.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS } from '../../src/chunk/chunk-options.js';

describe('PROVIDER_PROFILES', () => {
  it('holds the providers of this release, kluster first (the default), each name once; all OpenAI-shaped but Together\'s, Anthropic\'s and Gemini\'s batches', () => {
    expect(PROVIDER_PROFILES.map((p) => p.name)).toEqual(['kluster', 'kluster-2025', 'openai', 'together', 'groq', 'openai-compatible', 'anthropic', 'gemini']);
    expect(PROVIDER_PROFILES.filter((p) => p.apiShape !== 'openai-batch').map((p) => [p.name, p.apiShape])).toEqual([['together', 'together-batch'], ['anthropic', 'anthropic-batch'], ['gemini', 'gemini-batch']]);
  });

  // The rows are parsed when the table loads; this pins the figures each one cites, so a changed figure is a visible diff.
  it("holds each row's cited figures, from docs on the provider's own site, with the date checked", () => {
    const figures = PROVIDER_PROFILES.map((p) => [p.name, p.limits.maxRequests, p.limits.maxBytes, p.limits.maxLineBytes, p.windows, p.defaultWindow, p.auth, p.quirks.oneModelPerFile, p.quirks.customIdPattern]);
    expect(figures).toEqual([
      ['kluster', 50_000, 6_000_000_000, null, ['1h', '3h', '6h', '12h', '24h'], '24h', 'bare-or-bearer', false, null],
      ['kluster-2025', 1_000, 100_000_000, null, ['24h', '48h', '72h'], '24h', 'bare-or-bearer', false, null],
      ['openai', 50_000, 200_000_000, null, ['24h'], '24h', 'bearer', true, null],
      ['together', 50_000, 100_000_000, null, ['24h'], '24h', 'bearer', false, '^[\\s\\S]{1,64}$'],
      ['groq', null, 100_000_000, null, { min: '24h', max: '7d' }, '24h', 'bearer', false, null],
      ['openai-compatible', null, null, null, null, '24h', 'bearer', false, null],
      ['anthropic', 100_000, 240_000_000, null, ['24h'], '24h', 'bare-or-bearer', false, '^(?:(?!__)[a-zA-Z0-9_-]{1,55}|[\\s\\S]{1,9}|[\\x00-\\x7f]{1,39})$'],
      ['gemini', null, 1_750_000_000, null, ['24h'], '24h', 'x-goog-api-key', true, null],
    ]);
    const hosts = Object.fromEntries(PROVIDER_PROFILES.map((p) => [p.name, [...new Set(p.docs.map((url) => new URL(url).host))]]));
    expect(hosts).toEqual({
      kluster: ['docs.kluster.ai'],
      'kluster-2025': ['docs.kluster.ai'],
      openai: ['platform.openai.com'],
      together: ['docs.together.ai'],
      groq: ['console.groq.com', 'github.com'],
      'openai-compatible': ['platform.openai.com'],
      anthropic: ['platform.claude.com'],
      gemini: ['ai.google.dev'],
    });
    for (const profile of PROVIDER_PROFILES) {
      expect(profile.docs.every((url) => url.startsWith('https://'))).toBe(true);
      expect(profile.checked).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  it('never lets a profile read the key variable of a provider on another server (openai-compatible has its own)', () => {
    for (const a of PROVIDER_PROFILES) {
      for (const b of PROVIDER_PROFILES) {
        if (a.name === b.name || (a.defaultBaseURL !== null && a.defaultBaseURL === b.defaultBaseURL)) continue;
        expect(a.apiKeyEnv.filter((name) => b.apiKeyEnv.includes(name)), `${a.name} / ${b.name}`).toEqual([]);
        expect(a.baseUrlEnv, `${a.name} / ${b.name}`).not.toBe(b.baseUrlEnv);
      }
    }
    const compatible = PROVIDER_PROFILES.find((p) => p.name === 'openai-compatible')!;
    expect([compatible.apiKeyEnv, compatible.baseUrlEnv]).toEqual([['OPENAI_COMPATIBLE_API_KEY'], 'OPENAI_COMPATIBLE_BASE_URL']);
  });

  it('says in a note what kbatch does where a batch limit is not documented', () => {
    for (const profile of PROVIDER_PROFILES.filter((p) => p.limits.maxRequests === null || p.limits.maxBytes === null)) {
      expect(profile.notes.join(' '), profile.name).toMatch(/kbatch chunks at its defaults/);
    }
  });

  it('keeps the seed kluster limits as the library defaults, and the published 2025 and OpenAI figures', () => {
    const [kluster, kluster2025, openai] = PROVIDER_PROFILES;
    expect([kluster!.limits.maxRequests, kluster!.limits.maxBytes]).toEqual([DEFAULT_MAX_REQUESTS, DEFAULT_MAX_BYTES]);
    expect(kluster!.windows).toEqual(['1h', '3h', '6h', '12h', '24h']);
    expect([kluster2025!.limits.maxBytes, kluster2025!.windows]).toEqual([100_000_000, ['24h', '48h', '72h']]);
    expect([openai!.limits.maxRequests, openai!.limits.maxBytes, openai!.windows, openai!.auth, openai!.quirks.oneModelPerFile]).toEqual([50_000, 200_000_000, ['24h'], 'bearer', true]);
  });

  it('refuses a row whose default window it does not offer', () => {
    const row = { ...PROVIDER_PROFILES[2]!, defaultWindow: '1h' };
    expect(ProviderProfileSchema.safeParse(row).success).toBe(false);
  });

  it('takes windows as a range, refusing one whose min is longer than its max or whose default is outside it', () => {
    const groq = PROVIDER_PROFILES.find((p) => p.name === 'groq')!;
    expect(ProviderProfileSchema.safeParse({ ...groq, windows: { min: '2d', max: '36h' } }).success).toBe(false);
    expect(ProviderProfileSchema.safeParse({ ...groq, defaultWindow: '8d' }).success).toBe(false);
    expect(ProviderProfileSchema.safeParse({ ...groq, defaultWindow: '3d' }).success).toBe(true);
  });

  // OpenAI's enqueued-token limit depends on the model and the account's tier: no row has one figure for everyone.
  it("offers an output expiry on openai only (1 hour to 30 days), and no default token budget; a row without either parses as none", () => {
    expect(PROVIDER_PROFILES.filter((p) => p.outputExpiry !== null).map((p) => [p.name, p.outputExpiry])).toEqual([['openai', { minSeconds: 3_600, maxSeconds: 2_592_000 }]]);
    expect(PROVIDER_PROFILES.map((p) => p.limits.maxBatchTokens)).toEqual(PROVIDER_PROFILES.map(() => null));
    const { outputExpiry: _o, ...row } = PROVIDER_PROFILES[0]!;
    const parsed = ProviderProfileSchema.parse({ ...row, limits: { maxRequests: 1, maxBytes: 1, maxLineBytes: null } });
    expect([parsed.outputExpiry, parsed.limits.maxBatchTokens]).toEqual([null, null]);
  });
});
