import { getProvider } from '@kbatch/core';
import type { EmulatorOptions } from '@kbatch/emulator';
import { providerFlag } from './client-flags.js';

/**
 * The emulator options that make it speak as a provider (`kbatch emulator --provider openai`): its completion
 * windows, Bearer-only auth, one model per file, and its documented batch limits (an undocumented one keeps the
 * emulator's default; a window list the provider does not document keeps kluster's). Flags given override these.
 */
export function emulatorPersonality(provider: string | undefined): Partial<EmulatorOptions> {
  if (provider === undefined) return {};
  const profile = getProvider(providerFlag(provider));
  return {
    // A native wire format: the emulator speaks it (its windows are not OpenAI-style create parameters).
    ...(profile.apiShape === 'gemini-batch' ? { provider: 'gemini' as const } : profile.windows === null ? {} : { completionWindows: profile.windows }),
    bearerOnly: profile.auth === 'bearer',
    ...(profile.apiShape === 'anthropic-batch' ? { provider: 'anthropic' as const } : {}),
    ...(profile.apiShape === 'together-batch' ? { provider: 'together' as const } : {}),
    oneModelPerFile: profile.quirks.oneModelPerFile,
    ...(profile.limits.maxRequests === null ? {} : { maxRequestsPerBatch: profile.limits.maxRequests }),
    ...(profile.limits.maxBytes === null ? {} : { maxBatchBytes: profile.limits.maxBytes }),
    ...(profile.limits.maxLineBytes === null ? {} : { maxLineBytes: profile.limits.maxLineBytes }),
  };
}
