import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { RejectedRecord } from '../records/rejected-record.js';

/** Appends rejected records as JSON lines; a file is only created when the first reject arrives. */
export interface RejectsWriter {
  write(rejected: RejectedRecord): void;
  /** Wait until the file has taken what was written (backpressure, called between batches). */
  drain(): Promise<void>;
  close(): Promise<void>;
  readonly count: number;
}

export function createRejectsWriter(target: string | Writable | undefined): RejectsWriter {
  let out: WriteStream | Writable | undefined;
  let count = 0;
  let failure: unknown;
  return {
    get count() {
      return count;
    },
    write(rejected) {
      count++;
      if (target === undefined) return;
      if (out === undefined) {
        out = typeof target === 'string' ? createWriteStream(target) : target;
        out.on('error', (err: unknown) => (failure ??= err));
      }
      out.write(JSON.stringify(rejected) + '\n');
    },
    async drain() {
      if (out === undefined || !out.writableNeedDrain) return;
      const stream = out;
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('error', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('error', done);
      });
    },
    async close() {
      if (out !== undefined && typeof target === 'string') {
        out.end();
        await finished(out).catch((err: unknown) => (failure ??= err));
      }
      if (failure !== undefined) throw failure;
    },
  };
}
