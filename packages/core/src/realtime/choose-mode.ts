import { DEFAULT_PROVIDER, getProvider } from '../providers/resolve-provider.js';
import { speaksBatches } from '../providers/provider-profile.js';

/**
 * Below this many requests `mode: 'auto'` runs realtime. Why 1,000: at kluster's core tier (600
 * requests/min, 100 concurrent) 1,000 requests finish in about 2 minutes through
 * /v1/chat/completions, while a batch spends minutes in validation and queueing before its first
 * answer; above it, the batch discount and the rate limits favour the Batch API.
 */
export const DEFAULT_AUTO_THRESHOLD = 1000;

/** How a job's requests are run. */
export type RunMode = 'batch' | 'realtime';

/**
 * Pick how to run `requests` requests: `batch` and `realtime` are taken as given; `auto` is
 * realtime below `autoThreshold` (default {@link DEFAULT_AUTO_THRESHOLD}) and batch from it up —
 * always realtime on a `provider` whose Batch API kbatch does not speak (its batches would be refused).
 * Pure: the caller counts the requests (e.g. the prepared request lines).
 * @example chooseMode({ mode: 'auto', requests: 250 }) // 'realtime'
 */
export function chooseMode(options: { mode: RunMode | 'auto'; requests: number; autoThreshold?: number; provider?: string | undefined }): RunMode {
  if (options.mode !== 'auto') return options.mode;
  if (!speaksBatches(getProvider(options.provider ?? DEFAULT_PROVIDER))) return 'realtime';
  return options.requests < (options.autoThreshold ?? DEFAULT_AUTO_THRESHOLD) ? 'realtime' : 'batch';
}
