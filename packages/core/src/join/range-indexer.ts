// A second thread for the index pass: on 2 cores, a large result file is read by both, segment by segment.
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SegmentJob, SegmentReply } from './index-worker.js';
import type { IndexedRange } from './range-index.js';

/** The worker's module beside this one (absent where the code is bundled or run from sources: then no second thread). */
export const INDEX_WORKER = new URL('./index-worker.js', import.meta.url);

/**
 * One worker thread that indexes segments of result files (see `indexRange`), claiming them from a counter it shares
 * with the caller, who claims the others. `close` ends it (also while it works: nothing waits on a thread after an
 * error); a failure in the thread rejects {@link next}.
 */
export class SegmentIndexer {
  private readonly worker: Worker;
  private readonly done: Array<{ segment: number; range: IndexedRange }> = [];
  private waiting: (() => void) | null = null;
  private failure: unknown = null;

  constructor(url: URL) {
    this.worker = new Worker(url);
    this.worker.on('message', (reply: SegmentReply) => this.receive(reply));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the index worker stopped (exit code ${code})`)));
  }

  /** Whether a worker can be started from `url` (its file exists). */
  static available(url: URL): boolean {
    return url.protocol === 'file:' && existsSync(fileURLToPath(url));
  }

  /** Start claiming the segments of `job` on the worker. */
  start(job: SegmentJob): void {
    this.worker.postMessage(job);
  }

  /** The segments the worker indexed since the last call (none: an empty list, without waiting). */
  drain(): Array<{ segment: number; range: IndexedRange }> {
    if (this.failure !== null) throw this.failure;
    return this.done.splice(0);
  }

  /** {@link drain}, waiting for a segment when there is none yet. */
  async next(): Promise<Array<{ segment: number; range: IndexedRange }>> {
    if (this.done.length === 0 && this.failure === null) await new Promise<void>((resolve) => (this.waiting = resolve));
    return this.drain();
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private receive(reply: SegmentReply): void {
    if ('range' in reply) {
      // A Buffer arrives as a Uint8Array.
      const pages = reply.range.pages.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      this.done.push({ segment: reply.segment, range: { ...reply.range, pages } });
    } else this.failure ??= Object.assign(new Error(reply.error.message), { name: reply.error.name ?? 'Error', code: reply.error.code });
    this.wake();
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }
}

/**
 * The segments of file `path` (`size` bytes) as their `count + 1` bounds, each after the first at the start of the first
 * line at or after its share of the file (fewer segments where lines are long).
 */
export async function segmentBounds(path: string, size: number, count: number): Promise<number[]> {
  const bounds = [0];
  const handle = await open(path, 'r');
  try {
    const block = Buffer.allocUnsafe(64 * 1024);
    for (let k = 1; k < count; k++) {
      const from = Math.max(Math.floor((size * k) / count), bounds[bounds.length - 1]!);
      const start = await lineStartFrom(handle, block, from, size);
      if (start < size && start > bounds[bounds.length - 1]!) bounds.push(start);
    }
  } finally {
    await handle.close();
  }
  bounds.push(size);
  return bounds;
}

/** The start of the first line beginning after byte `from` (after its next newline), or `size`. */
async function lineStartFrom(handle: import('node:fs/promises').FileHandle, block: Buffer, from: number, size: number): Promise<number> {
  for (let at = from; at < size; at += block.length) {
    const { bytesRead } = await handle.read(block, 0, block.length, at);
    if (bytesRead === 0) break;
    const nl = block.subarray(0, bytesRead).indexOf(0x0a);
    if (nl !== -1) return at + nl + 1;
  }
  return size;
}
