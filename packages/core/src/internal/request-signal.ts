import { setMaxListeners } from 'node:events';

/**
 * Run one SDK request under its own child signal linked to a long-lived `signal`.
 * Why: the openai client adds an abort listener to the signal of every request and never removes it, so
 * passing a job-long signal to each poll piles up listeners (MaxListenersExceededWarning, then a leak).
 * Every call into a provider client that would get a job-long signal goes through here (or {@link withRequestSignalEach}).
 * @example const batch = await withRequestSignal(signal, (s) => client.retrieve(id, s ? { signal: s } : undefined));
 */
export async function withRequestSignal<T>(signal: AbortSignal | undefined, request: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (!signal) return request(undefined);
  const link = linkChild(signal);
  try {
    return await request(link.signal);
  } finally {
    link.release();
  }
}

/**
 * {@link withRequestSignal} for a request whose answer is read as it streams (an SDK stream, a paged listing): the
 * child signal stays linked until the items are all read or the reader stops, so the later reads stay abortable.
 * @example for await (const chunk of withRequestSignalEach(signal, (s) => client.create(body, { signal: s }))) …
 */
export async function* withRequestSignalEach<T>(signal: AbortSignal | undefined, request: (signal: AbortSignal | undefined) => AsyncIterable<T> | Promise<AsyncIterable<T>>): AsyncGenerator<T, void, undefined> {
  if (!signal) return yield* await request(undefined);
  const link = linkChild(signal);
  try {
    yield* await request(link.signal);
  } finally {
    link.release();
  }
}

// A child aborted with the parent's reason; release() removes the one listener it put on the parent.
function linkChild(signal: AbortSignal): { signal: AbortSignal; release: () => void } {
  const child = new AbortController();
  // The SDK adds a listener per HTTP try (each page of a listing, each retry) to the child, which dies with the call:
  // far more than Node's 10, but a bound still, so that a job-long loop wrapped here by mistake is reported.
  setMaxListeners(1000, child.signal);
  const forward = (): void => child.abort(signal.reason);
  if (signal.aborted) child.abort(signal.reason);
  else signal.addEventListener('abort', forward, { once: true });
  return { signal: child.signal, release: () => signal.removeEventListener('abort', forward) };
}
