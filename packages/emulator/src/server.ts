import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, notFound, sendError, sendJson } from './errors.js';
import { createExecutor } from './executor.js';
import { dropConnection, FaultInjector, loseResponse } from './faults.js';
import { FineTuningLifecycle } from './fine-tuning.js';
import { compileRoutes } from './internal/http.js';
import { BatchLifecycle } from './lifecycle.js';
import { parseEmulatorOptions, parseFaults, type EmulatorOptions, type FaultOptions, type ResolvedFaults } from './options.js';
import { batchRoutes } from './routes/batches.js';
import { chatRoutes } from './routes/chat.js';
import { fileRoutes } from './routes/files.js';
import { fineTuningRoutes } from './routes/fine-tuning.js';
import { modelRoutes } from './routes/models.js';
import { Store } from './store.js';
import { geminiRoutes } from './gemini/gemini-routes.js';
import { sendGoogleError } from './gemini/gemini-wire.js';
import { anthropicRoutes } from './anthropic/routes.js';
import { togetherRoutes } from './together/together-routes.js';
import { errorBody as anthropicErrorBody } from './anthropic/wire.js';
import { createUpstream } from './upstream.js';

/** Counters for tests: requests per route, objects created, peak concurrency. */
export interface EmulatorStats {
  /** Requests per route key, e.g. 'POST /v1/batches', 'GET /v1/batches/:id'. */
  requests: Record<string, number>;
  filesCreated: number;
  batchesCreated: number;
  /** POST /v1/chat/completions requests received. */
  chatRequests: number;
  /** Peak concurrent POST /v1/chat/completions requests. */
  maxConcurrentChat: number;
  /** POST /v1/chat/completions requests being handled right now (arrived, not yet closed). */
  chatInFlight: number;
  /** Peak concurrent requests per route key. */
  maxConcurrent: Record<string, number>;
  /** Batches not yet ended right now (validating, in_progress, finalizing, cancelling). */
  activeBatches: number;
  /** The most batches not yet ended at once since the emulator started (a shared quota's check). */
  maxActiveBatches: number;
}

/** A running emulator. */
export interface Emulator {
  /** e.g. 'http://127.0.0.1:PORT/v1' — pass as the openai client's baseURL (`provider: 'anthropic'|'gemini'`: the bare origin, as their SDKs take it; `together`: the /v1 URL, as together-ai takes it). */
  readonly baseURL: string;
  readonly port: number;
  /** Where state lives (a temp dir unless `dataDir` was given). */
  readonly dataDir: string;
  /** Stop timers and the server; removes the data dir if it was a temp one. */
  close(): Promise<void>;
  /** Change faults at runtime (merged into the current ones); `null` clears them all. */
  setFaults(faults: FaultOptions | null): void;
  /** A snapshot of the request counters. */
  stats(): EmulatorStats;
}

const CHAT_ROUTE = 'POST /v1/chat/completions';

/**
 * Start a local kluster-compatible API server (files, batches, chat, models, fine-tuning) on loopback.
 * @param options - see {@link EmulatorOptions}; all optional
 * @example
 * const emu = await startEmulator({ timeScale: 0.001, seed: 1 });
 * const client = new OpenAI({ baseURL: emu.baseURL, apiKey: 'test' });
 * // … use the client …
 * await emu.close();
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const opts = parseEmulatorOptions(options);
  const store = await Store.open(opts.dataDir);
  const faults = new FaultInjector(opts.seed, opts.faults ? (opts.faults as ResolvedFaults) : null);
  const upstream = opts.upstream ? createUpstream(opts.upstream) : undefined;
  const executor = createExecutor(store, upstream, opts.responder);
  const batches = new BatchLifecycle(store, opts, executor, () => faults.current);
  const jobs = new FineTuningLifecycle(store, opts.ftStepMs);

  const counters: EmulatorStats = { requests: {}, filesCreated: 0, batchesCreated: 0, chatRequests: 0, maxConcurrentChat: 0, chatInFlight: 0, maxConcurrent: {}, activeBatches: 0, maxActiveBatches: 0 };
  const inFlight = new Map<string, number>();

  const routes = compileRoutes([
    // Together's files and batches share the OpenAI-style paths: its routes come first and win.
    ...(opts.provider === 'together' ? togetherRoutes({ store, lifecycle: batches, faults: () => faults.current, onFile: () => counters.filesCreated++, onBatch: () => counters.batchesCreated++ }) : []),
    ...fileRoutes(store, () => counters.filesCreated++),
    ...batchRoutes(store, batches, () => counters.batchesCreated++),
    ...chatRoutes(store, executor, () => counters.chatRequests++),
    ...modelRoutes(store),
    ...fineTuningRoutes(store, jobs),
    ...(opts.provider === 'gemini'
      ? geminiRoutes({ store, lifecycle: batches, executor, maxBatchBytes: opts.maxBatchBytes, onFile: () => counters.filesCreated++, onBatch: () => counters.batchesCreated++, onChat: () => counters.chatRequests++ })
      : []),
    ...(opts.provider === 'anthropic'
      ? anthropicRoutes({ store, lifecycle: batches, executor, opts, onBatchCreated: () => counters.batchesCreated++, onChat: () => counters.chatRequests++ })
      : []),
  ]);

  const handle = requestHandler({
    routes,
    faults,
    counters,
    inFlight,
    apiKey: opts.apiKey,
    bearerOnly: opts.bearerOnly,
    gemini: opts.provider === 'gemini',
    anthropic: opts.provider === 'anthropic',
  });
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 5_000;
  await listen(server, opts.port, opts.host);
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  batches.resumeAll();
  jobs.resumeAll();

  let closing: Promise<void> | undefined;
  return {
    // Anthropic's and Gemini's SDKs take the bare origin (their paths carry the version); OpenAI-style and Together's clients the /v1 URL.
    baseURL: `http://${hostForUrl}:${port}${opts.provider === undefined || opts.provider === 'together' ? '/v1' : ''}`,
    port,
    dataDir: store.dir,
    setFaults(change) {
      faults.set(change === null ? null : parseFaults(change));
    },
    stats() {
      return { ...structuredClone(counters), chatInFlight: inFlight.get(CHAT_ROUTE) ?? 0, activeBatches: batches.activeBatches(), maxActiveBatches: batches.maxActive };
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([batches.close(), jobs.close()]);
        await closed;
        await store.close();
      })();
      return closing;
    },
  };
}

type Routes = ReturnType<typeof compileRoutes>;

/** What the request handler shares with the emulator: its routes, faults and counters. */
interface HandlerContext {
  routes: Routes;
  faults: FaultInjector;
  counters: EmulatorStats;
  /** Requests in flight per route key. */
  inFlight: Map<string, number>;
  apiKey: string | undefined;
  /** The key only as `Authorization: Bearer KEY` (a bare key is refused). */
  bearerOnly: boolean;
  /** The Gemini personality: the key in `x-goog-api-key` (or `?key=`), errors in Google's shape. */
  gemini: boolean;
  /** The anthropic personality: `x-api-key` accepted too, and /v1/messages errors in Anthropic's shape. */
  anthropic: boolean;
}

/** Every request: counted per route, authorized, put through the faults, then routed; errors become JSON error responses. */
function requestHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { faults } = ctx;
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const { route, match } = findRoute(ctx.routes, req.method, path);
    const key = route?.pattern ?? `${req.method} ${path}`;
    const current = countRequest(ctx, key, res);
    try {
      const allowed = route?.public === true || (ctx.gemini
        ? geminiAuthorized(ctx.apiKey, req, url)
        : authorized(ctx.apiKey, req, ctx.bearerOnly) || (ctx.anthropic && req.headers['x-api-key'] === ctx.apiKey));
      if (!allowed) {
        req.resume();
        throw new HttpError(401, 'Invalid or missing API key (send `Authorization: Bearer <key>`)', 'authentication_error', 'invalid_api_key');
      }
      if (!route || !match) {
        req.resume();
        throw notFound(`Unknown route ${req.method} ${path}`, null, 'unknown_url');
      }
      const decision = await faults.decide(key, current);
      if (decision.kind === 'drop') return dropConnection(req, res);
      if (decision.kind === 'loseResponse') loseResponse(req, res);
      if (decision.kind === 'error') {
        req.resume();
        throw decision.error;
      }
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => (params[k] = decodeURIComponent(match[i + 1]!)));
      await route.handler({ req, res, params, query: url.searchParams });
    } catch (err) {
      if (err instanceof HttpError && ctx.anthropic && path.startsWith('/v1/messages')) return sendAnthropicError(res, err);
      if (err instanceof HttpError) return (ctx.gemini ? sendGoogleError : sendError)(res, err);
      if (!res.headersSent && !res.destroyed) {
        (ctx.gemini ? sendGoogleError : sendError)(res, new HttpError(500, `Emulator error: ${(err as Error).message}`, 'server_error', 'internal_error'));
      } else {
        res.destroy();
      }
    }
  };
}

/** The first route of this method whose pattern matches the path, with its match. */
function findRoute(routes: Routes, method: string | undefined, path: string): { route: Routes[number] | undefined; match: RegExpExecArray | null } {
  for (const route of routes) {
    if (route.method !== method) continue;
    const match = route.re.exec(path);
    if (match) return { route, match };
  }
  return { route: undefined, match: null };
}

/** Count a request under its route key and track it in flight until its response closes; returns how many are in flight. */
function countRequest(ctx: HandlerContext, key: string, res: ServerResponse): number {
  const { counters, inFlight } = ctx;
  counters.requests[key] = (counters.requests[key] ?? 0) + 1;
  const current = (inFlight.get(key) ?? 0) + 1;
  inFlight.set(key, current);
  counters.maxConcurrent[key] = Math.max(counters.maxConcurrent[key] ?? 0, current);
  if (key === CHAT_ROUTE) counters.maxConcurrentChat = Math.max(counters.maxConcurrentChat, current);
  res.once('close', () => inFlight.set(key, (inFlight.get(key) ?? 1) - 1));
  return current;
}

/** An error in Anthropic's shape `{type: 'error', error: {type, message}}`, its headers (Retry-After) kept. */
function sendAnthropicError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) return void res.destroy();
  const requestId = `req_${Date.now().toString(36)}`;
  sendJson(res, err.status, anthropicErrorBody(err.status, err.message, requestId), { 'request-id': requestId, ...err.headers });
}

function authorized(apiKey: string | undefined, req: IncomingMessage, bearerOnly: boolean): boolean {
  if (!apiKey) return true;
  const header = (req.headers.authorization ?? '').trim();
  return header === `Bearer ${apiKey}` || (!bearerOnly && header === apiKey);
}

function geminiAuthorized(apiKey: string | undefined, req: IncomingMessage, url: URL): boolean {
  return !apiKey || req.headers['x-goog-api-key'] === apiKey || url.searchParams.get('key') === apiKey;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
