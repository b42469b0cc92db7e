import type { RunSettings } from '../state/run-state.js';
import { assertLintClean, lintRules } from './lint-requests.js';
import { DEFAULT_PROVIDER, getProvider } from './resolve-provider.js';

/**
 * Lint a run's chunk files before any upload, where the provider has a rule the chunker does not already keep.
 * A run's chunks hold one model, unique custom_ids and at most maxRequests/maxBytes by construction, so only a
 * per-line size or a custom_id pattern can fail: without either, the files are not read again. Realtime runs send no
 * batch file, so their chunks are not linted.
 * @throws KbatchError LINT_FAILED
 */
export async function lintRunChunks(files: readonly string[], settings: Pick<RunSettings, 'provider' | 'maxRequests' | 'maxBytes' | 'mode'>): Promise<void> {
  const profile = getProvider(settings.provider ?? DEFAULT_PROVIDER);
  if (settings.mode === 'realtime' || (profile.limits.maxLineBytes === null && profile.quirks.customIdPattern === null)) return;
  await assertLintClean(files, lintRules(profile, { maxRequests: settings.maxRequests, maxBytes: settings.maxBytes }));
}
