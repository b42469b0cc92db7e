import { sendJson } from '../errors.js';
import { chatBodyError, type Executor } from '../executor.js';
import { readJson, type Route, type RouteContext } from '../internal/http.js';
import type { BatchLifecycle } from '../lifecycle.js';
import type { Store } from '../store.js';
import { geminiBatchRoutes } from './gemini-batches.js';
import { geminiFileRoutes } from './gemini-files.js';
import { chatBodyOf, GEMINI_MODELS, generateContentResponseOf, googleError } from './gemini-wire.js';

/** What the Gemini personality shares with the emulator: its store, batch lifecycle, responder and counters. */
export interface GeminiRouteContext {
  store: Store;
  lifecycle: BatchLifecycle;
  executor: Executor;
  maxBatchBytes: number;
  onFile: () => void;
  onBatch: () => void;
  onChat: () => void;
}

/**
 * The Gemini Developer API (v1beta) routes: resumable uploads, files, batches, and generateContent, all answered by
 * the emulator's own lifecycle, responder, faults and clock (`startEmulator({ provider: 'gemini' })`).
 */
export function geminiRoutes(ctx: GeminiRouteContext): Route[] {
  const generate = async (model: string, { req, res }: RouteContext): Promise<void> => {
    ctx.onChat();
    const body = chatBodyOf((await readJson(req)) as never);
    const invalid = chatBodyError(ctx.store, body, ctx.executor.upstream === undefined);
    if (invalid) throw googleError(invalid.status, invalid.message);
    const outcome = await ctx.executor.run(body);
    if (outcome.status < 200 || outcome.status >= 300) {
      const message = (outcome.body as { error?: { message?: string } } | null)?.error?.message;
      throw googleError(outcome.status, message ?? `HTTP ${outcome.status}`);
    }
    sendJson(res, 200, generateContentResponseOf(outcome.body as never, model));
  };
  const models: Route = {
    method: 'GET',
    pattern: 'GET /v1beta/models',
    handler: async ({ res }) => sendJson(res, 200, { models: GEMINI_MODELS.map((m) => ({ name: `models/${m}`, displayName: m, supportedGenerationMethods: ['generateContent', 'batchGenerateContent'] })) }),
  };
  return [models, ...geminiFileRoutes(ctx.store, ctx.maxBatchBytes, ctx.onFile), ...geminiBatchRoutes(ctx.store, ctx.lifecycle, ctx.onBatch, generate)];
}
