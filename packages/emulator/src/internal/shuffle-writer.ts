import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

const WINDOW = 64;

/**
 * Writes JSONL lines in a seeded, shuffled order with bounded memory (a window of 64 lines). The first line written
 * is never the first line received when there are two or more, so output order always differs from input order.
 */
export class ShuffleWriter {
  private readonly buffer: string[] = [];
  private readonly out: WriteStream;
  private first = true;
  count = 0;
  bytes = 0;

  constructor(
    readonly path: string,
    private readonly random: () => number,
  ) {
    this.out = createWriteStream(path);
  }

  /** Add one line (without newline). */
  async push(line: string): Promise<void> {
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
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  /** Write the rest and close the file. */
  async finish(): Promise<void> {
    while (this.buffer.length > 0) await this.emit();
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }

  /** Close without caring about the content (shutdown). */
  async abandon(): Promise<void> {
    this.buffer.length = 0;
    await new Promise<void>((resolve) => this.out.end(() => resolve()));
  }
}
