// The providers area's public surface: profiles as data, name resolution, and the request lint.
export { ProviderProfileSchema, API_SHAPES, speaksBatches, WindowSchema, WindowRangeSchema, windowHours, offersWindow, describeWindows } from './provider-profile.js';
export type { ProviderProfile, ApiShape, ProfileWindows } from './provider-profile.js';
export { PROVIDER_PROFILES } from './profiles.js';
export { DEFAULT_PROVIDER, PROVIDER_NAMES, ProviderNameSchema, getProvider } from './resolve-provider.js';
export { LINT_RULES, lintRules, lintRequests, assertLintClean } from './lint-requests.js';
export type { LintProblem, LintRule, LintRules, LintReport } from './lint-requests.js';
