/**
 * Run one SDK request under its own child signal linked to a long-lived `signal`.
 * Why: the openai client adds an abort listener to the signal of every request and never removes it, so
 * passing a job-long signal to each poll piles up listeners (MaxListenersExceededWarning, then a leak).
 * @example const batch = await withRequestSignal(signal, (s) => client.retrieve(id, s ? { signal: s } : undefined));
 */
export async function withRequestSignal<T>(signal: AbortSignal | undefined, request: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (!signal) return request(undefined);
  const child = new AbortController();
  const forward = (): void => child.abort(signal.reason);
  if (signal.aborted) child.abort(signal.reason);
  else signal.addEventListener('abort', forward, { once: true });
  try {
    return await request(child.signal);
  } finally {
    signal.removeEventListener('abort', forward);
  }
}
