import { describe, expect, it } from 'vitest';
import { PROVIDER_PROFILES } from '../../src/providers/profiles.js';
import { ProviderProfileSchema } from '../../src/providers/provider-profile.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS } from '../../src/chunk/chunk-options.js';

describe('PROVIDER_PROFILES', () => {
  it('holds the providers of this release, kluster first (the default), each name once; all OpenAI-shaped but Together\'s and Anthropic\'s batches', () => {
    expect(PROVIDER_PROFILES.map((p) => p.name)).toEqual(['kluster', 'kluster-2025', 'openai', 'together', 'groq', 'openai-compatible', 'anthropic']);
    expect(PROVIDER_PROFILES.filter((p) => p.apiShape !== 'openai-batch').map((p) => [p.name, p.apiShape])).toEqual([['together', 'together-batch'], ['anthropic', 'anthropic-batch']]);
  });

  // The rows are parsed when the table loads; this pins the figures each one cites, so a changed figure is a visible diff.
  it("holds each row's cited figures, from docs on the provider's own site, with the date checked", () => {
    const figures = PROVIDER_PROFILES.map((p) => [p.name, p.limits.maxRequests, p.limits.maxBytes, p.limits.maxLineBytes, p.windows, p.defaultWindow, p.auth, p.quirks.oneModelPerFile, p.quirks.customIdPattern]);
    expect(figures).toEqual([
      ['kluster', 50_000, 6_000_000_000, null, ['1h', '3h', '6h', '12h', '24h'], '24h', 'bare-or-bearer', false, null],
      ['kluster-2025', 1_000, 100_000_000, null, ['24h', '48h', '72h'], '24h', 'bare-or-bearer', false, null],
      ['openai', 50_000, 200_000_000, null, ['24h'], '24h', 'bearer', true, null],
      ['together', 50_000, 100_000_000, null, ['24h'], '24h', 'bearer', false, '^[\\s\\S]{1,64}$'],
      ['groq', null, 100_000_000, null, ['24h', '48h', '72h', '7d'], '24h', 'bearer', false, null],
      ['openai-compatible', null, null, null, null, '24h', 'bearer', false, null],
      ['anthropic', 100_000, 240_000_000, null, ['24h'], '24h', 'bare-or-bearer', false, '^(?:(?!__)[a-zA-Z0-9_-]{1,55}|[\\s\\S]{1,9}|[\\x00-\\x7f]{1,39})$'],
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
});
