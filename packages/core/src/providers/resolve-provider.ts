import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { PROVIDER_PROFILES } from './profiles.js';
import { describeWindows, offersWindow, type ProviderProfile } from './provider-profile.js';

/** The provider a job uses when none is named: the seed's kluster.ai. */
export const DEFAULT_PROVIDER = 'kluster';

/** Every `--provider` name, in table order. */
export const PROVIDER_NAMES: readonly string[] = PROVIDER_PROFILES.map((p) => p.name);

/** A provider name (a `provider` option): one of {@link PROVIDER_NAMES}. */
export const ProviderNameSchema = z
  .string({ error: `must be one of ${PROVIDER_NAMES.join(', ')}` })
  .refine((name) => PROVIDER_NAMES.includes(name), { error: `must be one of ${PROVIDER_NAMES.join(', ')}` });

/**
 * The profile of a provider.
 * @param name - a provider name (default {@link DEFAULT_PROVIDER})
 * @param field - what the error calls the name (the CLI: `--provider`)
 * @throws KbatchError OPTION_INVALID listing the names
 * @example getProvider('openai').limits.maxBytes // 200000000
 */
export function getProvider(name: string = DEFAULT_PROVIDER, field = 'provider'): ProviderProfile {
  const profile = PROVIDER_PROFILES.find((p) => p.name === name);
  if (profile) return profile;
  throw new KbatchError('OPTION_INVALID', `Invalid option \`${field}\`: must be one of ${PROVIDER_NAMES.join(', ')}, got ${JSON.stringify(name)}`, { field });
}

/**
 * Throw unless the provider offers this completion window (checked before anything is written or sent): one of its
 * list, or any whole number of hours or days within its range.
 * @throws KbatchError OPTION_INVALID naming the provider and the windows (or the range) it offers
 */
export function checkWindow(profile: ProviderProfile, window: string | undefined): void {
  if (window === undefined || profile.windows === null || offersWindow(profile.windows, window)) return;
  const offered = Array.isArray(profile.windows) ? `one of ${describeWindows(profile.windows)}` : `from ${describeWindows(profile.windows)}`;
  throw new KbatchError(
    'OPTION_INVALID',
    `Invalid option \`window\`: must be ${offered} (the completion windows provider ${profile.name} offers), got ${JSON.stringify(window)}`,
    { field: 'window' },
  );
}

/**
 * Throw unless the provider lets a batch set its output files' expiry (`output_expires_after`), for this many seconds.
 * @throws KbatchError OPTION_INVALID naming the provider (and the range it accepts)
 */
export function checkOutputExpiry(profile: ProviderProfile, seconds: number | undefined): void {
  if (seconds === undefined) return;
  const range = profile.outputExpiry;
  if (range !== null && range.minSeconds <= seconds && seconds <= range.maxSeconds) return;
  const offers = PROVIDER_PROFILES.filter((p) => p.outputExpiry !== null).map((p) => p.name);
  throw new KbatchError(
    'OPTION_INVALID',
    range === null
      ? `Invalid option \`outputExpiresAfter\`: provider ${profile.name} does not document an output expiry for batches (${offers.join(', ')} does), got ${seconds} seconds`
      : `Invalid option \`outputExpiresAfter\`: must be from ${range.minSeconds} to ${range.maxSeconds} seconds (provider ${profile.name}: ${range.minSeconds / 3_600} hour to ${range.maxSeconds / 86_400} days), got ${seconds}`,
    { field: 'outputExpiresAfter' },
  );
}

/**
 * Throw when a job recorded one provider and this call names another: its batches and files live on the recorded one.
 * @param recorded - the provider in run.json / manifest.json (undefined for a job from before providers were
 *   recorded: it ran on the default, {@link DEFAULT_PROVIDER})
 * @param given - the provider this call names (undefined: none named)
 * @throws KbatchError JOB_MISMATCH saying which provider was recorded
 */
export function checkRecordedProvider(recorded: string | undefined, given: string | undefined, jobDir?: string): void {
  const was = recorded ?? DEFAULT_PROVIDER;
  if (given === undefined || was === given) return;
  throw new KbatchError(
    'JOB_MISMATCH',
    `the job${jobDir === undefined ? '' : ` in ${jobDir}`} was started with provider ${was} (recorded in the job directory), not ${given}: continue it with --provider ${was}, or use a new --job-dir`,
    { field: 'provider', ...(jobDir === undefined ? {} : { file: jobDir }) },
  );
}
