import { describe, expect, it } from 'vitest';
import { checkOutputExpiry, checkRecordedProvider, checkWindow, getProvider, PROVIDER_NAMES } from '../../src/providers/resolve-provider.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

describe('getProvider', () => {
  it('finds a profile by name, kluster by default', () => {
    expect(getProvider().name).toBe('kluster');
    expect(getProvider('groq').defaultBaseURL).toBe('https://api.groq.com/openai/v1');
  });

  it('rejects an unknown name with OPTION_INVALID listing every name', async () => {
    const err = await catchError(() => getProvider('mistral'));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'provider', message: `must be one of ${PROVIDER_NAMES.join(', ')}, got "mistral"` });
  });
});

describe('checkWindow', () => {
  it('accepts a window the provider offers and refuses another with OPTION_INVALID naming the provider and its windows', async () => {
    checkWindow(getProvider('kluster-2025'), '48h');
    checkWindow(getProvider('openai'), undefined);
    const err = await catchError(() => checkWindow(getProvider('openai'), '1h'));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'window', message: '`window`: must be one of 24h (the completion windows provider openai offers), got "1h"' });
  });

  it('passes any window on to a server whose windows are not documented', () => {
    expect(() => checkWindow(getProvider('openai-compatible'), '7d')).not.toThrow();
  });

  it('accepts any whole number of hours or days within a range (groq: 24h to 7d), both ends included', () => {
    for (const window of ['24h', '36h', '2d', '168h', '7d']) expect(() => checkWindow(getProvider('groq'), window), window).not.toThrow();
  });

  it('refuses a window outside the range, or not in hours or days, with OPTION_INVALID naming the range', async () => {
    for (const window of ['23h', '8d', '169h', '1w', '1.5d', '24']) {
      const err = await catchError(() => checkWindow(getProvider('groq'), window));
      expectKbatchError(err, {
        code: 'OPTION_INVALID',
        field: 'window',
        message: `\`window\`: must be from 24h to 7d (any whole number of hours or days) (the completion windows provider groq offers), got ${JSON.stringify(window)}`,
      });
    }
  });
});

describe('checkOutputExpiry', () => {
  it("accepts OpenAI's range, 1 hour to 30 days, and nothing given on any provider", () => {
    for (const seconds of [3_600, 86_400, 2_592_000]) expect(() => checkOutputExpiry(getProvider('openai'), seconds)).not.toThrow();
    expect(() => checkOutputExpiry(getProvider('kluster'), undefined)).not.toThrow();
  });

  it('refuses a value outside the range with OPTION_INVALID naming it', async () => {
    for (const seconds of [3_599, 2_592_001]) {
      const err = await catchError(() => checkOutputExpiry(getProvider('openai'), seconds));
      expectKbatchError(err, { code: 'OPTION_INVALID', field: 'outputExpiresAfter', message: `must be from 3600 to 2592000 seconds (provider openai: 1 hour to 30 days), got ${seconds}` });
    }
  });

  it('refuses it on a provider that does not document one, naming the providers that do', async () => {
    for (const name of ['kluster', 'groq', 'openai-compatible']) {
      const err = await catchError(() => checkOutputExpiry(getProvider(name), 7_200));
      expectKbatchError(err, { code: 'OPTION_INVALID', field: 'outputExpiresAfter', message: `provider ${name} does not document an output expiry for batches (openai does), got 7200 seconds` });
    }
  });
});

describe('checkRecordedProvider', () => {
  it('refuses another provider than the recorded one with JOB_MISMATCH saying which was recorded', async () => {
    checkRecordedProvider('openai', 'openai', '/j');
    checkRecordedProvider('openai', undefined, '/j');
    const err = await catchError(() => checkRecordedProvider('openai', 'kluster', '/j'));
    expectKbatchError(err, { code: 'JOB_MISMATCH', field: 'provider', message: 'was started with provider openai' });
  });

  it('reads a job with no recorded provider (made before providers were recorded) as the default, kluster', async () => {
    checkRecordedProvider(undefined, 'kluster', '/j');
    checkRecordedProvider(undefined, undefined, '/j');
    expectKbatchError(await catchError(() => checkRecordedProvider(undefined, 'openai', '/j')), { code: 'JOB_MISMATCH', file: '/j', message: 'the job in /j was started with provider kluster' });
  });
});
