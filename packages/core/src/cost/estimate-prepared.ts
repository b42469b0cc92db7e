// The budget's estimate of a prepared run: from its chunk files (exactly the requests it will send) and its settled mode.
import { createReadStream } from 'node:fs';
import { LineSplitter } from '../internal/line-splitter.js';
import type { RunState } from '../state/run-state.js';
import { estimateFrom, type EstimateContext, type JobEstimate } from './estimate-job.js';
import { runChunkLimits } from './estimate-requests.js';
import { priceTable } from './prices.js';
import { loadTokenizer, tokenizerKind } from './tokenizer.js';
import { requestLineCounter } from './tokenizer-lines.js';

/**
 * Estimate a prepared run from the job itself: its chunk files' lines are the requests to send (those the cache
 * answered were diverted when it was prepared, whatever the cache holds now) and `state.mode` is the mode they go in.
 * Reads each chunk file once, a line at a time.
 * @param chunkFiles - the run's chunk files, in order (one batch each)
 */
export async function estimatePrepared(state: RunState, chunkFiles: readonly string[], context: Pick<EstimateContext, 'schema' | 'signal' | 'prices'>): Promise<JobEstimate> {
  const { settings } = state;
  const model = String(settings.request.model);
  const tokenizer = await loadTokenizer(tokenizerKind(model));
  const countLine = requestLineCounter(tokenizer, model);
  let requests = 0;
  let promptTokens = 0;
  const count = (lines: Buffer[]): void => {
    for (const line of lines) {
      if (line.length === 0) continue;
      requests++;
      promptTokens += countLine(line);
    }
  };
  for (const file of chunkFiles) {
    context.signal?.throwIfAborted();
    const splitter = new LineSplitter();
    for await (const piece of createReadStream(file)) count(splitter.push(piece as Buffer));
    count(splitter.end());
  }
  const cached = state.cached ?? 0;
  const limits = runChunkLimits(settings);
  const counts = { records: state.recordsRead, requests: requests + cached, skipped: state.skipped, cached, batches: chunkFiles.length, limits, promptTokens };
  return estimateFrom(settings, counts, { mode: state.mode ?? 'batch', tokenizer, schema: context.schema, prices: context.prices ?? priceTable() });
}
