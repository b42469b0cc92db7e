import { directoryStore, type JobStore } from '../state/job-store.js';
import { clientProvider } from '../client/create-kluster-client.js';
import { KbatchError } from '../errors.js';
import { checkOutputExpiry, checkWindow, DEFAULT_PROVIDER, getProvider } from './resolve-provider.js';
import { speaksBatches, type ProviderProfile } from './provider-profile.js';

/** What a job call says about its provider: the option, and the client (whose provider createClient noted). */
export interface ProviderChoice {
  provider?: string | undefined;
  client?: unknown;
  window?: string | undefined;
  /** Seconds to keep the batches' output files (`output_expires_after`), where the provider offers it. */
  outputExpiresAfter?: number | undefined;
}

/** The provider a call names: the `provider` option, else the one its client was created for; undefined when neither says. */
export function namedProvider(choice: ProviderChoice): string | undefined {
  return choice.provider ?? clientProvider(choice.client)?.provider;
}

/**
 * The provider a job runs on (named, else kluster) with the server its client talks to, its window checked first.
 * @param batches - the call creates or follows batches (a batch job): refused on a profile whose batch API kbatch
 *   does not speak yet, before anything is uploaded
 * @throws KbatchError OPTION_INVALID when the provider does not offer `window` or `outputExpiresAfter`, or cannot run batches yet
 */
export function jobProvider(choice: ProviderChoice, { batches = false } = {}): { profile: ProviderProfile; record: { provider: string; baseURL?: string } } {
  const profile = getProvider(namedProvider(choice) ?? DEFAULT_PROVIDER);
  checkWindow(profile, choice.window);
  checkOutputExpiry(profile, choice.outputExpiresAfter);
  if (batches && !speaksBatches(profile)) {
    throw new KbatchError(
      'OPTION_INVALID',
      `Invalid option \`provider\`: ${profile.name}'s Batch API is ${profile.apiShape}, which kbatch does not speak yet (nothing was uploaded); use realtime mode (--mode realtime), kbatch chat, or kbatch lint with it`,
      { field: 'provider' },
    );
  }
  const baseURL = isLocalClient(choice.client) ? undefined : (clientProvider(choice.client)?.baseURL ?? baseUrlOf(choice.client));
  return { profile, record: { provider: profile.name, ...(baseURL === undefined ? {} : { baseURL }) } };
}

// Weak, as clientProvider: the mark goes with the client.
const LOCAL_CLIENTS = new WeakSet<object>();

/**
 * Mark a client of a server that is gone when the command ends (kbatch run --local's in-process emulator on an
 * ephemeral port): its jobs record their provider but no base URL, so a later resume is never pointed at a dead port.
 */
export function markLocalClient<T extends object>(client: T): T {
  LOCAL_CLIENTS.add(client);
  return client;
}

const isLocalClient = (client: unknown): boolean => typeof client === 'object' && client !== null && LOCAL_CLIENTS.has(client);

// Any openai client knows its base URL; a fake may not.
function baseUrlOf(client: unknown): string | undefined {
  const url = typeof client === 'object' && client !== null ? (client as { baseURL?: unknown }).baseURL : undefined;
  return typeof url === 'string' ? url : undefined;
}

/**
 * The provider and base URL a job directory recorded (run.json for a run, else manifest.json): a job from before
 * providers were recorded ran on {@link DEFAULT_PROVIDER}, with no base URL; {} for a directory without a job yet.
 */
export async function recordedProvider(job: string | JobStore): Promise<{ provider?: string; baseURL?: string }> {
  const store = typeof job === 'string' ? directoryStore(job) : job;
  const run = await store.readRunState().catch(() => null);
  const from = run?.settings ?? (await store.readManifest().catch(() => null));
  if (from === null) return {};
  return { provider: from.provider ?? DEFAULT_PROVIDER, ...(from.baseURL !== undefined ? { baseURL: from.baseURL } : {}) };
}
