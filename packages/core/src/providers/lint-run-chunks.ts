import type { RunSettings } from '../state/run-state.js';
import { assertLintClean, lintRules } from './lint-requests.js';
import { DEFAULT_PROVIDER, getProvider } from './resolve-provider.js';
import { NATIVE_REQUEST_CHECKS } from './native-clients.js';
import { readFileLines } from '../job/lines.js';

/**
 * Lint a run's chunk files before any upload, where the provider has a rule the chunker does not already keep.
 * A run's chunks hold one model, unique custom_ids and at most maxRequests/maxBytes by construction, so only a
 * per-line size, a custom_id pattern or a parameter the provider refuses can fail: without any, the files are not read
 * again. Realtime runs send no batch file: their chunks are checked for refused parameters only. A native adapter
 * (Gemini) also checks that its mapping takes them, in either mode.
 * @throws KbatchError LINT_FAILED
 */
export async function lintRunChunks(files: readonly string[], settings: Pick<RunSettings, 'provider' | 'maxRequests' | 'maxBytes' | 'mode'>): Promise<void> {
  const profile = getProvider(settings.provider ?? DEFAULT_PROVIDER);
  const check = NATIVE_REQUEST_CHECKS[profile.apiShape];
  // A run's requests share one template and one set of parameters: each chunk's first line speaks for the rest.
  if (check) for (const file of files) await checkFirstRequest(file, check);
  // The first lines were checked natively above: the rest share their parameters, so the lint below does not convert them
  // again; the chunker kept the token budget.
  const rules = { ...lintRules(profile, { maxRequests: settings.maxRequests, maxBytes: settings.maxBytes }), nativeCheck: null, maxBatchTokens: null };
  if (settings.mode === 'realtime') {
    if (rules.unsupportedParams.length === 0) return;
    const none = { maxRequests: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER, maxLineBytes: null, oneModelPerFile: false, customIdPattern: null };
    return assertLintClean(files, { ...rules, ...none });
  }
  if (profile.limits.maxLineBytes === null && profile.quirks.customIdPattern === null && rules.unsupportedParams.length === 0) return;
  await assertLintClean(files, rules);
}

async function checkFirstRequest(file: string, check: (text: string, line: number) => void): Promise<void> {
  for await (const { line, text } of readFileLines(file)) {
    if (text.trim() === '') continue;
    check(text, line);
    return;
  }
}
