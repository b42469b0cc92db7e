import { DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS } from '../chunk/chunk-options.js';
import type { ProviderProfile } from './provider-profile.js';

/**
 * The chunk limits a provider's batches take by default: its documented figures, else kbatch's defaults
 * (a limit the provider does not document; its note says so). Flags and options still override them.
 */
export function chunkLimits(profile: ProviderProfile): { maxRequests: number; maxBytes: number } {
  return { maxRequests: profile.limits.maxRequests ?? DEFAULT_MAX_REQUESTS, maxBytes: profile.limits.maxBytes ?? DEFAULT_MAX_BYTES };
}
