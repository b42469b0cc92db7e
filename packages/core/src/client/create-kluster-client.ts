import OpenAI from 'openai';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';

/** kluster.ai's OpenAI-compatible endpoint; used when neither the option nor KLUSTER_BASE_URL is set. */
export const KLUSTER_BASE_URL = 'https://api.kluster.ai/v1';

/** Options of {@link createKlusterClient}. */
export const KlusterClientOptionsSchema = z.object({
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

/**
 * The official openai client pointed at kluster.ai (or `KLUSTER_BASE_URL`), keyed from the option or `KLUSTER_API_KEY`.
 * The key lives only in the client object: kbatch never prints, logs or persists it.
 * @param options - apiKey/baseURL override the environment (`env`, default `process.env`)
 * @example
 * const client = createKlusterClient(); // KLUSTER_API_KEY from the environment
 * const client2 = createKlusterClient({ apiKey: 'k', baseURL: 'http://127.0.0.1:8080/v1' });
 */
export function createKlusterClient(options: KlusterClientOptions = {}): OpenAI {
  const opts = parseOptions(KlusterClientOptionsSchema, options, 'createKlusterClient');
  const env = opts.env ?? process.env;
  const apiKey = opts.apiKey ?? nonEmpty(env['KLUSTER_API_KEY']);
  if (apiKey === undefined) {
    throw new KbatchError(
      'API_KEY_MISSING',
      'No API key: set the KLUSTER_API_KEY environment variable (or pass --api-key / apiKey)',
    );
  }
  const baseURL = opts.baseURL ?? nonEmpty(env['KLUSTER_BASE_URL']) ?? KLUSTER_BASE_URL;
  return new OpenAI({
    apiKey,
    baseURL,
    ...(opts.maxRetries === undefined ? {} : { maxRetries: opts.maxRetries }),
    ...(opts.timeout === undefined ? {} : { timeout: opts.timeout }),
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
