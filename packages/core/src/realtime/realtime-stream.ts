import { Duplex } from 'node:stream';
import { parseOptions } from '../options.js';
import type { BatchRequestLine } from '../request/request-line.js';
import { RealtimeOptionsSchema, runResolved, type RealtimeOptions } from './run-realtime.js';
import type { RealtimeResultLine } from './realtime-types.js';

/**
 * Object-mode Duplex facade over `runRealtime`: write request lines, read result lines.
 * Backpressure is end-to-end: a slow reader stops intake once the reorder window is full.
 * @example
 * await pipeline(requestLines, realtimeStream({ client: openai.chat.completions, concurrency: 20 }), joinInput);
 */
export function realtimeStream(options: RealtimeOptions): Duplex {
  const resolved = parseOptions(RealtimeOptionsSchema, options, 'realtimeStream');
  return Duplex.from(async function* (source: AsyncIterable<BatchRequestLine>): AsyncGenerator<RealtimeResultLine> {
    yield* runResolved(source, resolved);
  });
}
