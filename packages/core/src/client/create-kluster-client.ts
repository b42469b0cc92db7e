import OpenAI from 'openai';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { PROVIDER_PROFILES } from '../providers/profiles.js';
import { DEFAULT_PROVIDER, getProvider, ProviderNameSchema } from '../providers/resolve-provider.js';
import { NATIVE_CLIENTS } from '../providers/native-clients.js';
import { keyFingerprint } from '../quota/quota-key.js';

/** kluster.ai's OpenAI-compatible endpoint; used when neither the option nor KLUSTER_BASE_URL is set. */
export const KLUSTER_BASE_URL: string = PROVIDER_PROFILES[0]!.defaultBaseURL!;

/** Options of {@link createClient}. */
export const KlusterClientOptionsSchema = z.object({
  /** Which provider's key variable, base URL and limits apply (default `kluster`). */
  provider: ProviderNameSchema.optional(),
  apiKey: z.string({ error: 'must be a string' }).min(1, { error: 'must be a non-empty string' }).optional(),
  baseURL: z.url({ error: 'must be an http(s) URL' }).optional(),
  // Not a z.record: process.env is exotic, and an error must never echo the environment (it holds the key).
  env: z
    .custom<Record<string, string | undefined>>((v) => typeof v === 'object' && v !== null, { error: 'must be an object of environment variables' })
    .optional(),
  maxRetries: z.int({ error: 'must be a non-negative integer' }).min(0, { error: 'must be a non-negative integer' }).optional(),
  timeout: z.int({ error: 'must be a positive integer (ms)' }).positive({ error: 'must be a positive integer (ms)' }).optional(),
  fetch: z.custom<typeof fetch>((v) => typeof v === 'function', { error: 'must be a fetch function' }).optional(),
});
export type KlusterClientOptions = z.input<typeof KlusterClientOptionsSchema>;

/** Which provider and server a client made by {@link createClient} talks to (never its key). */
export interface ClientProvider {
  provider: string;
  baseURL: string;
}

// Weak: a client's provider goes with the client, so a job can record it without being told twice.
const PROVIDER_OF = new WeakMap<object, ClientProvider>();

/** The provider and base URL of a client made by {@link createClient}; undefined for any other client (fakes, your own). */
export function clientProvider(client: unknown): ClientProvider | undefined {
  return typeof client === 'object' && client !== null ? PROVIDER_OF.get(client) : undefined;
}

// The fingerprint of each client's key (never the key): the shared quota names a key by it.
const KEY_OF = new WeakMap<object, string>();

/** The fingerprint of the key a client made by {@link createClient} sends (see keyFingerprint); undefined for any other client. */
export function clientKeyFingerprint(client: unknown): string | undefined {
  return typeof client === 'object' && client !== null ? KEY_OF.get(client) : undefined;
}

/**
 * The official openai client pointed at a provider: keyed from the option or the provider's variable
 * (`KLUSTER_API_KEY`, `OPENAI_API_KEY`, …), at the option's base URL, the provider's base-URL variable, or its
 * default. It always sends `Authorization: Bearer KEY`, which every profile accepts. The key lives only in the
 * client object: kbatch never prints, logs or persists it.
 * @param options - provider, apiKey and baseURL (these two override the environment: `env`, default `process.env`)
 * @throws KbatchError API_KEY_MISSING naming the variable to set; OPTION_INVALID for an unknown provider, or
 *   `openai-compatible` without a base URL
 * @example
 * const client = createClient(); // kluster, KLUSTER_API_KEY from the environment
 * const openai = createClient({ provider: 'openai' }); // OPENAI_API_KEY, https://api.openai.com/v1
 */
export function createClient(options: KlusterClientOptions = {}): OpenAI {
  const opts = parseOptions(KlusterClientOptionsSchema, options, 'createClient');
  const env = opts.env ?? process.env;
  const profile = getProvider(opts.provider ?? DEFAULT_PROVIDER);
  const apiKey = opts.apiKey ?? profile.apiKeyEnv.map((name) => nonEmpty(env[name])).find((key) => key !== undefined);
  if (apiKey === undefined) {
    throw new KbatchError(
      'API_KEY_MISSING',
      `No API key: set the ${profile.apiKeyEnv.join(' or ')} environment variable (or pass --api-key / apiKey)`,
    );
  }
  const baseURL = opts.baseURL ?? nonEmpty(env[profile.baseUrlEnv]) ?? profile.defaultBaseURL;
  if (baseURL === null) {
    throw new KbatchError('OPTION_INVALID', `Invalid option \`baseURL\`: provider ${profile.name} needs the server's base URL (--base-url, or ${profile.baseUrlEnv}), e.g. http://127.0.0.1:8000/v1`, {
      field: 'baseURL',
    });
  }
  const tuning = {
    ...(opts.maxRetries === undefined ? {} : { maxRetries: opts.maxRetries }),
    ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }),
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
  };
  const native = NATIVE_CLIENTS[profile.apiShape];
  const client = native ? native({ profile, apiKey, baseURL, ...tuning }) : new OpenAI({ apiKey, baseURL, ...tuning });
  PROVIDER_OF.set(client, { provider: profile.name, baseURL });
  KEY_OF.set(client, keyFingerprint(apiKey, baseURL));
  return client;
}

/**
 * {@link createClient} under its first name (kluster by default; `provider` picks another).
 * @example const client = createKlusterClient({ apiKey: 'k', baseURL: 'http://127.0.0.1:8080/v1' });
 */
export const createKlusterClient = createClient;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
