import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { drained } from '../internal/drained.js';

/** Bytes gathered before one write to the sink. */
const BLOCK = 1 << 20;

/** Text written to a Writable with backpressure, gathered into blocks (see {@link textWriter}). */
export interface TextWriter {
  /** Add `text` (encoded as UTF-8 into the current block; a full block goes to the sink). */
  put(text: string): void;
  /** Send what was put; resolves when the sink can take more. Throws the sink's error, if it failed. */
  flush(): Promise<void>;
  /**
   * Resolve when the sink can take more, keeping what was put in the block until it is full: backpressure without a
   * write per call (a join window's rows are ~100 KB; a write each, then a drain wait each, left the join idle).
   */
  pace(): Promise<void>;
  /** Flush, then end the sink and wait until it is done (when it is ours to end), else just stop listening. */
  end(): Promise<void>;
  /** Give up after an error: destroy the sink when it is ours to end, and wait until it is closed. */
  destroy(): Promise<void>;
}

/** Options of {@link textWriter}. */
export interface TextWriterOptions {
  /** End (or destroy) the sink when done; false for stdout or another shared sink. */
  end: boolean;
  /** The sink lets go of a chunk once its write callback ran (a file stream we opened): blocks are then reused. */
  reuse: boolean;
}

/**
 * Write text to `sink` without a pipeline: many small texts are encoded into 1 MiB blocks (one sink write each, no big
 * string built), and a wait happens only at `flush` or `pace` when the sink asked for one. A fresh large buffer costs page
 * faults each time; with `reuse`, the blocks go round.
 */
export function textWriter(sink: Writable, options: TextWriterOptions): TextWriter {
  let failed: Error | null = null;
  const onError = (err: Error): void => {
    failed ??= err;
  };
  sink.on('error', onError);
  const free: Buffer[] = [];
  let block: Buffer = Buffer.allocUnsafe(BLOCK);
  let used = 0;
  const send = (): void => {
    if (used === 0) return;
    const sent = block;
    sink.write(sent.subarray(0, used), options.reuse ? (err) => err || free.push(sent) : undefined);
    block = free.pop() ?? Buffer.allocUnsafe(BLOCK);
    used = 0;
  };
  const pace = async (): Promise<void> => {
    if (failed) throw failed;
    // Asked of the sink now, not remembered from a write: a drain that already happened is never waited for.
    if (!sink.writableNeedDrain) return;
    await drained(sink);
    if (failed) throw failed;
  };
  const flush = async (): Promise<void> => {
    if (failed) throw failed;
    send();
    await pace();
  };
  return {
    put(text) {
      // A UTF-16 unit takes at most 3 bytes in UTF-8: room for that many never truncates.
      if (used + text.length * 3 > BLOCK) {
        send();
        if (text.length * 3 > BLOCK) {
          sink.write(text);
          return;
        }
      }
      used += block.write(text, used);
    },
    flush,
    pace,
    async end() {
      await flush();
      if (options.end) {
        sink.end();
        await finished(sink);
      }
      sink.off('error', onError);
    },
    async destroy() {
      // Keep listening: a late error of a destroyed sink must not go unhandled.
      if (!options.end) return;
      sink.destroy();
      // Closed (its file opened, if it was still opening), so the caller may remove the file.
      await finished(sink).catch(() => {});
    },
  };
}
