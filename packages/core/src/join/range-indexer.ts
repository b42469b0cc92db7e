// A second thread for the index pass: on 2 cores, a large result file is read in two halves at once.
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RangeReply } from './index-worker.js';
import type { IndexedRange, RangeRequest } from './range-index.js';

/** The worker's module beside this one (absent where the code is bundled or run from sources: then no second thread). */
export const INDEX_WORKER = new URL('./index-worker.js', import.meta.url);

/**
 * One worker thread that indexes byte ranges of result files (see `indexRange`), one at a time. `close` ends it (also
 * while it works: nothing waits on a thread after an error). A failure in the thread rejects `index`.
 */
export class RangeIndexer {
  private readonly worker: Worker;
  private waiting: { resolve: (range: IndexedRange) => void; reject: (err: unknown) => void } | null = null;
  private failure: unknown = null;

  constructor(url: URL) {
    this.worker = new Worker(url);
    this.worker.on('message', (reply: RangeReply) => this.settle(reply));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the index worker stopped (exit code ${code})`)));
  }

  /** Whether a worker can be started from `url` (its file exists). */
  static available(url: URL): boolean {
    return url.protocol === 'file:' && existsSync(fileURLToPath(url));
  }

  /** Index `request`'s range on the worker. */
  index(request: RangeRequest): Promise<IndexedRange> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error('the index worker is busy'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private settle(reply: RangeReply): void {
    const waiting = this.waiting;
    this.waiting = null;
    if ('range' in reply) waiting?.resolve({ ...reply.range, pages: reply.range.pages.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)) });
    else waiting?.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name ?? 'Error', code: reply.error.code }));
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(err);
  }
}

/** Where file `path` (of `size` bytes) is split in two: the start of the first line at or after its middle, or `size`. */
export async function splitPoint(path: string, size: number): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const block = Buffer.allocUnsafe(64 * 1024);
    for (let at = Math.floor(size / 2); at < size; at += block.length) {
      const { bytesRead } = await handle.read(block, 0, block.length, at);
      if (bytesRead === 0) break;
      const nl = block.subarray(0, bytesRead).indexOf(0x0a);
      if (nl !== -1) return at + nl + 1;
    }
    return size;
  } finally {
    await handle.close();
  }
}
