import type OpenAI from 'openai';
import { z } from 'zod';
import { createDirectChat, supportsDirectChat } from '../client/direct-chat.js';
import { createUndiciFetch } from '../client/undici-fetch.js';
import type { RealtimeClient } from './run-realtime.js';

/** A full openai client or just its `chat.completions` (or a fake with `create`). */
export type RealtimeClientInput = OpenAI | RealtimeClient;

/**
 * How a full openai client's realtime requests travel: `direct` (default) — `createDirectChat`, the
 * client's own headers and error classes over one undici pool; `undici-fetch` — the SDK over
 * `createUndiciFetch`; `sdk` — the client exactly as given. Clients with a custom fetch, fetch
 * options or a provider always go as given (or `undici-fetch` falls back to as given).
 */
export const RealtimeTransportSchema = z.enum(['direct', 'undici-fetch', 'sdk'], { error: 'must be one of: direct, undici-fetch, sdk' });
/** See {@link RealtimeTransportSchema}. */
export type RealtimeTransport = z.infer<typeof RealtimeTransportSchema>;

/** True for values `realtimeClientFor` accepts. */
export function isRealtimeClientInput(v: unknown): v is RealtimeClientInput {
  const c = v as { create?: unknown; chat?: { completions?: { create?: unknown } } } | null;
  return typeof c?.create === 'function' || typeof c?.chat?.completions?.create === 'function';
}

/**
 * The `chat.completions` capability to run realtime requests with, and the transport it uses. Node 20's
 * fetch costs more CPU per request than `createUndiciFetch`, and the SDK's own per-request work more than
 * `createDirectChat` (see `pnpm bench:realtime`), so a plain client on the platform fetch is moved onto
 * the lighter path; a client with its own fetch, or a bare `chat.completions`, is used as given.
 * @returns the capability, the transport used and `close()` releasing the sockets it opened (a no-op otherwise)
 * @example
 * const { client, close } = realtimeClientFor(new OpenAI({ baseURL, apiKey }), { connections: 64 });
 * try { await client.create({ model, messages }); } finally { await close(); }
 */
export function realtimeClientFor(
  client: RealtimeClientInput,
  options: { connections: number; transport?: RealtimeTransport },
): { client: RealtimeClient; transport: RealtimeTransport; close(): Promise<void> } {
  const full = client as OpenAI;
  const none = async () => undefined;
  if (typeof full.chat?.completions?.create !== 'function') return { client: client as RealtimeClient, transport: 'sdk', close: none };
  const transport = options.transport ?? 'direct';
  if (transport === 'direct' && supportsDirectChat(full)) {
    const chat = createDirectChat(full, { connections: options.connections });
    return { client: chat as unknown as RealtimeClient, transport, close: () => chat.close() };
  }
  // `fetch` is private in the SDK's types; the platform fetch is its default.
  const ownFetch = (client as unknown as { fetch?: unknown }).fetch;
  if (transport === 'sdk' || typeof full.withOptions !== 'function' || ownFetch !== globalThis.fetch) {
    return { client: full.chat.completions, transport: 'sdk', close: none };
  }
  const fetch = createUndiciFetch({ connections: options.connections });
  return { client: full.withOptions({ fetch }).chat.completions, transport: 'undici-fetch', close: () => fetch.close() };
}
