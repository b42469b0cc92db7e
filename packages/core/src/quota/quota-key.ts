import { createHash } from 'node:crypto';

/**
 * A short fingerprint of an API key as used at one server: the first 16 hex digits of sha256(baseURL without its
 * trailing slashes, key). It names the key in the shared quota without storing it (the key never reaches the database).
 * @example keyFingerprint('sk-test', 'https://api.openai.com/v1') // '3f1c…' (16 hex digits)
 */
export function keyFingerprint(apiKey: string, baseURL: string | undefined): string {
  return createHash('sha256').update(`${(baseURL ?? '').replace(/\/+$/, '')}\n${apiKey}`).digest('hex').slice(0, 16);
}

/** What a quota key is made of: the provider, its key's fingerprint and the model. */
export interface QuotaKeyParts {
  provider: string;
  fingerprint: string;
  model: string;
}

/**
 * The key parts share one quota under: provider, API key fingerprint and model (providers count enqueued tokens per
 * key and model).
 * @example quotaKey({ provider: 'openai', fingerprint: '3f1c2b…', model: 'gpt-4o-mini' }) // 'openai/3f1c2b…/gpt-4o-mini'
 */
export function quotaKey({ provider, fingerprint, model }: QuotaKeyParts): string {
  return `${provider}/${fingerprint}/${model}`;
}
