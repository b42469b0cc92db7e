import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { RejectedRecord } from '../records/rejected-record.js';

/** Appends rejected records as JSON lines; a file is only created when the first reject arrives. */
export interface RejectsWriter {
  write(rejected: RejectedRecord): void;
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
    async close() {
      if (out !== undefined && typeof target === 'string') {
        out.end();
        await finished(out).catch((err: unknown) => (failure ??= err));
      }
      if (failure !== undefined) throw failure;
    },
  };
}
