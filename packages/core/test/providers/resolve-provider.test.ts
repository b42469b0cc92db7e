import { describe, expect, it } from 'vitest';
import { checkRecordedProvider, checkWindow, getProvider, PROVIDER_NAMES } from '../../src/providers/resolve-provider.js';
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
