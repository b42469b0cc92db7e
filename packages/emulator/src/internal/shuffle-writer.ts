import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';

const WINDOW = 64;

/**
 * Writes JSONL lines in a seeded, shuffled order with bounded memory (a window of 64 lines). The first line written
 * is never the first line received when there are two or more, so output order always differs from input order.
 */
export class ShuffleWriter {
  private readonly buffer: string[] = [];
  private readonly out: WriteStream;
  private first = true;
  /** The file's write/open error, kept so push/finish reject with it instead of crashing the process. */
  private failure: Error | undefined;
  count = 0;
  bytes = 0;

  constructor(
    readonly path: string,
    private readonly random: () => number,
  ) {
    this.out = createWriteStream(path);
    this.out.on('error', (err) => {
      this.failure ??= err;
    });
  }

  /** Add one line (without newline); rejects with the file's error once it failed. */
  async push(line: string): Promise<void> {
    if (this.failure) throw this.failure;
    this.count++;
    this.buffer.push(line);
    if (this.buffer.length > WINDOW) await this.emit();
  }

  private async emit(): Promise<void> {
    const n = this.buffer.length;
    const index = this.first && n >= 2 ? 1 + Math.floor(this.random() * (n - 1)) : Math.floor(this.random() * n);
    this.first = false;
    const line = this.buffer[index]!;
    this.buffer[index] = this.buffer[n - 1]!;
    this.buffer.pop();
    const text = `${line}\n`;
    this.bytes += Buffer.byteLength(text);
    if (this.failure) throw this.failure;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  /** Write the rest and close the file; rejects with the file's error (e.g. ENOENT for a missing directory). */
  async finish(): Promise<void> {
    while (this.buffer.length > 0) await this.emit();
    if (this.failure) throw this.failure;
    await finished(this.out.end());
    if (this.failure) throw this.failure;
  }

  /** Close without caring about the content or errors (shutdown). */
  async abandon(): Promise<void> {
    this.buffer.length = 0;
    if (this.out.destroyed) return;
    await finished(this.out.end()).catch(() => undefined);
  }
}
