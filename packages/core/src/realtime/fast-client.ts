import type OpenAI from 'openai';
import { createUndiciFetch } from '../client/undici-fetch.js';
import type { RealtimeClient } from './run-realtime.js';

/** A full openai client or just its `chat.completions` (or a fake with `create`). */
export type RealtimeClientInput = OpenAI | RealtimeClient;

/** True for values `realtimeClientFor` accepts. */
export function isRealtimeClientInput(v: unknown): v is RealtimeClientInput {
  const c = v as { create?: unknown; chat?: { completions?: { create?: unknown } } } | null;
  return typeof c?.create === 'function' || typeof c?.chat?.completions?.create === 'function';
}

/**
 * The `chat.completions` capability to run realtime requests with. A full openai client still on
 * the platform fetch is copied (`withOptions`) onto `createUndiciFetch` with a pool of
 * `connections` sockets: Node 20's fetch costs ~2.5× the CPU per request (see bench:realtime).
 * A client with its own fetch, or a bare `chat.completions`, is used as given.
 * @returns the capability and `close()` releasing the pool it made (a no-op otherwise)
 * @example
 * const { client, close } = realtimeClientFor(new OpenAI({ baseURL, apiKey }), { connections: 64, undiciFetch: true });
 * try { await client.create({ model, messages }); } finally { await close(); }
 */
export function realtimeClientFor(
  client: RealtimeClientInput,
  options: { connections: number; undiciFetch: boolean },
): { client: RealtimeClient; close(): Promise<void> } {
  const full = client as OpenAI;
  if (typeof full.chat?.completions?.create !== 'function') return { client: client as RealtimeClient, close: async () => undefined };
  // `fetch` is private in the SDK's types; the platform fetch is its default.
  const ownFetch = (client as unknown as { fetch?: unknown }).fetch;
  if (!options.undiciFetch || typeof full.withOptions !== 'function' || ownFetch !== globalThis.fetch) {
    return { client: full.chat.completions, close: async () => undefined };
  }
  const fetch = createUndiciFetch({ connections: options.connections });
  return { client: full.withOptions({ fetch }).chat.completions, close: () => fetch.close() };
}
