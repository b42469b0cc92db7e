import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './errors.js';
import { createRandom } from './internal/random.js';
import type { ResolvedFaults } from './options.js';

/** What the fault layer decided for one request. */
export type FaultDecision = { kind: 'pass' } | { kind: 'drop' } | { kind: 'loseResponse' } | { kind: 'error'; error: HttpError };

/**
 * Seeded HTTP fault injection: latency, dropped connections, lost responses, 429 with Retry-After, 5xx, and a per-route concurrency
 * cap. One PRNG stream (from `seed`) drives every draw, so a run with the same requests sees the same faults.
 */
export class FaultInjector {
  private readonly random: () => number;
  current: ResolvedFaults;

  constructor(seed: number, initial: ResolvedFaults | null | undefined) {
    this.random = createRandom((seed * 2654435761) >>> 0);
    this.current = initial ?? {};
  }

  /** Merge a change (setFaults); null clears every fault. */
  set(change: ResolvedFaults | null): void {
    this.current = change === null ? {} : { ...this.current, ...change };
  }

  /** Whether the HTTP faults apply to this route key ('GET /v1/batches/:id'). */
  applies(route: string): boolean {
    const routes = this.current.routes;
    return routes === undefined || routes.length === 0 || routes.includes(route);
  }

  /** Decide the fate of a request after its latency; `inFlight` counts this request too. */
  async decide(route: string, inFlight: number): Promise<FaultDecision> {
    const f = this.current;
    if (!this.applies(route)) return { kind: 'pass' };
    if (f.concurrencyCap !== undefined && inFlight > f.concurrencyCap) {
      return { kind: 'error', error: tooMany(`Too many concurrent requests (cap ${f.concurrencyCap}) on ${route}`, f.retryAfterSeconds ?? 1) };
    }
    if (f.latencyMs) await new Promise((r) => setTimeout(r, f.latencyMs));
    if (f.dropRate && this.random() < f.dropRate) return { kind: 'drop' };
    if (f.rate429 && this.random() < f.rate429) return { kind: 'error', error: tooMany('Rate limit reached (injected fault)', f.retryAfterSeconds ?? 1) };
    if (f.rate5xx && this.random() < f.rate5xx) {
      const status = [500, 502, 503][Math.floor(this.random() * 3)]!;
      return { kind: 'error', error: new HttpError(status, `Injected server error ${status}`, 'server_error', 'server_error') };
    }
    if (f.loseResponseRate && this.random() < f.loseResponseRate) return { kind: 'loseResponse' };
    return { kind: 'pass' };
  }
}

function tooMany(message: string, retryAfterSeconds: number): HttpError {
  return new HttpError(429, message, 'rate_limit_error', 'rate_limit_exceeded', null, {
    'retry-after': String(Math.ceil(retryAfterSeconds)),
    'retry-after-ms': String(Math.round(retryAfterSeconds * 1000)),
  });
}

/** Destroy the connection without answering (a "dropped connection" fault). */
export function dropConnection(req: IncomingMessage, res: ServerResponse): void {
  res.socket?.destroy();
  req.destroy();
}

/**
 * Let the handler do its work, then destroy the connection instead of answering: the client sees a network error
 * although the server committed (a created job or batch), which is what idempotent create logic must survive.
 */
export function loseResponse(req: IncomingMessage, res: ServerResponse): void {
  const lose = () => {
    dropConnection(req, res);
    return res;
  };
  res.writeHead = lose as unknown as ServerResponse['writeHead'];
  res.write = (() => (lose(), false)) as unknown as ServerResponse['write'];
  res.end = lose as unknown as ServerResponse['end'];
}
