import { KbatchError } from '../errors.js';
import type { JobStore } from '../state/job-store.js';
import type { JobManifest } from '../state/manifest.js';
import { PostgresJobStore, unavailable } from '../state/postgres-store.js';
import { quoteSchema } from '../state/postgres-schema.js';
import { clientKeyFingerprint } from '../client/create-kluster-client.js';
import { DEFAULT_PROVIDER, getProvider } from '../providers/resolve-provider.js';
import { keyFingerprint } from './quota-key.js';
import { PostgresQuota, type PostgresQuotaInit } from './postgres-quota.js';
import type { PartQuota } from './part-quota.js';

/** A refused part asks again at most this often (and at least once per poll interval). */
const MAX_RETRY_MS = 5_000;

/**
 * The job's share of the provider quota: with a database store, always (slots are recorded even without a limit, so
 * jobs that have one count this job's batches too); without one, none (undefined: nothing changes; a limit given is
 * refused, OPTION_INVALID). The limit is
 * the key's stored one (the latest `maxEnqueuedTokens` given by any job on it, this one's included), else the provider's
 * documented figure (profile `limits.maxEnqueuedTokens`), else none.
 */
export async function openJobQuota(init: { store: JobStore; client: unknown; manifest: JobManifest; maxEnqueuedTokens?: number | undefined; pollIntervalMs: number }): Promise<PartQuota | undefined> {
  const { store, manifest } = init;
  if (!(store instanceof PostgresJobStore)) {
    assertQuotaStore(store, init.maxEnqueuedTokens);
    return undefined;
  }
  const provider = manifest.provider ?? DEFAULT_PROVIDER;
  return new PostgresQuota({
    database: store.database,
    jobId: store.jobId,
    jobDir: store.dir,
    provider,
    fingerprint: clientFingerprint(init.client),
    maxEnqueuedTokens: init.maxEnqueuedTokens,
    defaultMaxEnqueuedTokens: getProvider(provider).limits.maxEnqueuedTokens ?? undefined,
    retryMs: Math.min(MAX_RETRY_MS, init.pollIntervalMs),
    batches: batchesOf(init.client),
    checkEveryMs: init.pollIntervalMs,
  });
}

/**
 * Whether the job's parts need their prompt tokens counted as they are prepared: a database job whose key has a limit
 * (`maxEnqueuedTokens` given, the provider's documented figure, or one stored for the client's key by any job). Without
 * one the count is skipped (CPU at every prepare); a limit that appears later is met by counting a part's tokens when
 * its batch is about to be created (see PostgresQuota).
 * @example if (await quotaLimitApplies({ store, client, provider: 'kluster' })) countTokens = true;
 */
export async function quotaLimitApplies(init: { store: JobStore; client: unknown; provider: string | undefined; maxEnqueuedTokens?: number | undefined }): Promise<boolean> {
  const { store } = init;
  if (!(store instanceof PostgresJobStore)) return false;
  const provider = init.provider ?? DEFAULT_PROVIDER;
  if (init.maxEnqueuedTokens !== undefined || getProvider(provider).limits.maxEnqueuedTokens != null) return true;
  // Any model of the key: the prepare does not know every line's model.
  const prefix = `${provider}/${clientFingerprint(init.client)}/`;
  const { pool, schema } = store.database;
  const { rows } = await pool.query(`SELECT 1 FROM ${quoteSchema(schema)}.quota_limit WHERE left(quota_key, length($1)) = $1 LIMIT 1`, [prefix]).catch(unavailable);
  return rows.length > 0;
}

/**
 * Refuse a quota limit for a job whose state is not in a database (OPTION_INVALID): a limit kept by this process alone
 * would not see other jobs' batches, so it is refused rather than trusted.
 * @param store - the job's store (undefined: a job directory)
 */
export function assertQuotaStore(store: Pick<JobStore, 'jobId'> | undefined, maxEnqueuedTokens: number | undefined): void {
  if (maxEnqueuedTokens === undefined || store?.jobId !== undefined) return;
  throw new KbatchError('OPTION_INVALID', 'Invalid option `maxEnqueuedTokens`: needs the job state in a database (--database-url): the quota is counted there, across every job and process', { field: 'maxEnqueuedTokens' });
}

// The client's batch lookup, bound to it (any client kbatch drives has one; a caller's fake may not).
function batchesOf(client: unknown): PostgresQuotaInit['batches'] {
  const batches = (client as { batches?: { retrieve?: unknown } } | null)?.batches;
  if (typeof batches?.retrieve !== 'function') return undefined;
  return { retrieve: (id) => (batches.retrieve as (id: string) => Promise<{ status: string }>).call(batches, id) };
}

// A client made by createClient knows its key's fingerprint; an openai client of the caller's own has its key and URL.
function clientFingerprint(client: unknown): string {
  const known = clientKeyFingerprint(client);
  if (known !== undefined) return known;
  const { apiKey, baseURL } = (typeof client === 'object' && client !== null ? client : {}) as { apiKey?: unknown; baseURL?: unknown };
  return typeof apiKey === 'string' ? keyFingerprint(apiKey, typeof baseURL === 'string' ? baseURL : undefined) : 'unknown-key';
}
