// One pass over a run's input: every request rendered (prepare's own path), planned into batches, its tokens counted.
import { Writable } from 'node:stream';
import { prepareRequests } from '../request/prepare-requests.js';
import type { RequestOptions } from '../request/request-options.js';
import { appendInstruction } from '../answers/answer-parser.js';
import { ChunkWriterOptionsSchema, type ResolvedChunkWriterOptions } from '../chunk/chunk-options.js';
import { oversizeLine } from '../chunk/chunk-files.js';
import { estimateLineTokens, lineMemo } from '../chunk/line-tokens.js';
import { planChunk, type ChunkCounter } from '../chunk/plan-chunk.js';
import { LineSplitter } from '../internal/line-splitter.js';
import { parseOptions } from '../options.js';
import type { RunSettings } from '../state/run-state.js';
import type { TextTokenizer } from './tokenizer.js';
import { requestLineCounter } from './tokenizer-lines.js';
import type { AnswerCache } from '../cache/answer-cache.js';
import { cacheLineKey } from '../cache/divert-cached.js';

/** What one pass over the input counted. */
export interface RequestCounts {
  records: number;
  requests: number;
  /** Records rejected while preparing (`onInvalidRecord: 'skip'`): no request, no cost. */
  skipped: number;
  /** Of `requests`: those the request cache answers (never sent: no batch, no tokens, no cost). */
  cached: number;
  /** Batch files the requests to send split into, under `limits`. */
  batches: number;
  limits: { maxRequests: number; maxBytes: number; maxBatchTokens?: number | undefined };
  /** Of the requests to send (the cached ones are not counted). */
  promptTokens: number;
}

/** What {@link countRequests} needs besides the run's settings. */
export interface CountRequestsContext {
  instruction: string | null;
  tokenizer: TextTokenizer;
  signal?: AbortSignal | undefined;
  /** The request cache a run would read (its requests are looked up with the run's own key function), or none. */
  cache?: { answers: AnswerCache; provider: string } | null | undefined;
  /** Only these record numbers (a sample), as the run reads them. */
  keep?: (record: number) => boolean;
}

/**
 * Render every request of a run exactly as prepare does (its template, labels/schema instruction and parameters) and
 * count them as they stream by: prompt tokens with the model's tokenizer, and the batches `planChunk` cuts under the
 * provider's limits. Nothing is written and nothing is held beyond the line being counted. With a cache, the requests it
 * answers are counted apart (`cached`) and left out of the batches and tokens, as the run leaves them out.
 * @param instruction - the run's answer instruction (labels/schema), appended to the prompt as prepare does
 * @throws KbatchError LINE_TOO_LARGE / LINE_OVER_TOKEN_BUDGET, as the chunker would, and prepare's own errors
 */
export async function countRequests(settings: RunSettings, context: CountRequestsContext): Promise<RequestCounts> {
  const request = settings.request as RequestOptions;
  const model = String(request.model);
  const limits = runChunkLimits(settings);
  const countLine = requestLineCounter(context.tokenizer, model);
  const memo = lineMemo();
  const chunk: ChunkCounter = { requests: 0, bytes: 0, tokens: 0 };
  const counts = { requests: 0, cached: 0, batches: 0, promptTokens: 0 };
  const cache = context.cache ?? null;
  const keyOf = cache ? cacheLineKey(cache.provider) : null;
  const onLine = (line: Buffer): void => {
    if (line.length === 0) return;
    counts.requests++;
    // A request the cache answers is diverted before the chunker, as the run's prepare does: no batch, no tokens.
    if (keyOf !== null && cache!.answers.lookup(keyOf(line).key) !== undefined) {
      counts.cached++;
      return;
    }
    const tokens = limits.maxBatchTokens === undefined ? 0 : estimateLineTokens(line, memo);
    const plan = planChunk(chunk, line.length + 1, limits, tokens);
    if (plan === 'line-too-large' || plan === 'line-over-token-budget') throw oversizeLine(plan, line, { bytes: line.length + 1, tokens }, limits);
    if (plan === 'rotate' || counts.batches === 0) {
      counts.batches++;
      Object.assign(chunk, { requests: 0, bytes: 0, tokens: 0 });
    }
    chunk.requests++;
    chunk.bytes += line.length + 1;
    chunk.tokens! += tokens;
    counts.promptTokens += countLine(line);
  };
  const summary = await prepareRequests({
    ...request,
    prompt: appendInstruction(String(request.prompt), context.instruction),
    input: settings.input,
    format: settings.format,
    ...(settings.delimiter ? { delimiter: settings.delimiter } : {}),
    ...(settings.encoding ? { encoding: settings.encoding } : {}),
    onInvalidRecord: settings.onInvalidRecord,
    ...(context.keep ? { keep: context.keep } : {}),
    output: lineSink(onLine),
    ...(context.signal ? { signal: context.signal } : {}),
  });
  const { maxRequests, maxBytes, maxBatchTokens } = limits;
  return { records: summary.recordsRead, skipped: summary.rejected, ...counts, limits: { maxRequests, maxBytes, ...(maxBatchTokens === undefined ? {} : { maxBatchTokens }) } };
}

/** The batch limits a run's chunks are cut under: those stored, else the provider's. */
export function runChunkLimits(settings: RunSettings): ResolvedChunkWriterOptions {
  return parseOptions(
    ChunkWriterOptionsSchema,
    { outDir: '.', provider: settings.provider, maxRequests: settings.maxRequests, maxBytes: settings.maxBytes, maxBatchTokens: settings.maxBatchTokens },
    'estimateJob',
  );
}

/** A Writable of request-line bytes that hands each line to `onLine` (a throw fails the write). */
function lineSink(onLine: (line: Buffer) => void): Writable {
  const splitter = new LineSplitter();
  const each = (lines: Buffer[], callback: (err?: Error | null) => void): void => {
    try {
      for (const line of lines) onLine(line);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  };
  return new Writable({
    write: (chunk: Buffer, _encoding, callback) => each(splitter.push(chunk), callback),
    final: (callback) => each(splitter.end(), callback),
  });
}
