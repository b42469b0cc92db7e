import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KbatchError } from '../errors.js';
import { peekCustomId } from '../internal/line-splitter.js';
import type { ChunkInfo, ResolvedChunkWriterOptions } from './chunk-options.js';
import { planChunk, type ChunkCounter } from './plan-chunk.js';

const NL = Buffer.from('\n');
const FLUSH_BYTES = 1 << 20;

interface OpenChunk extends ChunkCounter {
  index: number;
  path: string;
  tmpPath: string;
  handle: FileHandle;
  firstLine: Buffer;
  lastLine: Buffer;
}

/**
 * The file side of chunking: rotates files by `planChunk`, writes to `.<name>.tmp`, then fsyncs,
 * renames and fsyncs the directory before a chunk is reported.
 */
export class ChunkFiles {
  readonly chunks: ChunkInfo[] = [];
  private current: OpenChunk | undefined;
  private started = false;
  private group: Buffer[] = [];
  private groupBytes = 0;

  constructor(
    private readonly opts: ResolvedChunkWriterOptions,
    private readonly onChunk: (chunk: ChunkInfo) => void = () => {},
  ) {}

  /**
   * Append lines (each without its newline).
   * @throws KbatchError LINE_TOO_LARGE when one line (plus newline) exceeds maxBytes
   */
  async write(lines: readonly Buffer[]): Promise<void> {
    if (!this.started) await this.start();
    const { maxBytes } = this.opts;
    for (const line of lines) {
      const bytes = line.length + 1;
      if (bytes > maxBytes) {
        const id = peekCustomId(line);
        throw new KbatchError(
          'LINE_TOO_LARGE',
          `request ${id === undefined ? '(no custom_id)' : JSON.stringify(id)} is ${bytes} bytes, more than the ${maxBytes}-byte file limit`,
          { customId: id },
        );
      }
      let chunk = this.current;
      if (chunk !== undefined && planChunk(chunk, bytes, this.opts) === 'rotate') {
        await this.close();
        chunk = undefined;
      }
      chunk ??= await this.openNext(line);
      chunk.requests++;
      chunk.bytes += bytes;
      chunk.lastLine = line;
      this.group.push(line, NL);
      this.groupBytes += bytes;
    }
    // Few large writes: small ones cost a thread-pool round trip each.
    if (this.groupBytes >= FLUSH_BYTES) await this.flush();
  }

  /** Complete the last chunk; resolves with every chunk written. */
  async finish(): Promise<ChunkInfo[]> {
    if (this.current !== undefined) await this.close();
    return this.chunks;
  }

  /** Close and delete the unfinished chunk after a failure (finished chunks stay). */
  async abort(): Promise<void> {
    const chunk = this.current;
    this.current = undefined;
    this.group = [];
    this.groupBytes = 0;
    if (chunk === undefined) return;
    await chunk.handle.close().catch(() => {});
    await rm(chunk.tmpPath, { force: true });
  }

  private async start(): Promise<void> {
    this.started = true;
    const { outDir, prefix, overwrite } = this.opts;
    await mkdir(outDir, { recursive: true });
    const pattern = new RegExp(`^\\.?${prefix.replace(/[.]/g, '\\.')}-\\d{5,}\\.jsonl(\\.tmp)?$`);
    const stale = (await readdir(outDir)).filter((name) => pattern.test(name));
    if (stale.length === 0) return;
    if (!overwrite) {
      throw new KbatchError(
        'OPTION_INVALID',
        `Invalid option \`outDir\`: must not already hold chunk files (found ${stale[0]}${stale.length > 1 ? ` and ${stale.length - 1} more` : ''} in ${outDir}); use an empty directory or overwrite`,
        { field: 'outDir', file: join(outDir, stale[0]!) },
      );
    }
    await Promise.all(stale.map((name) => rm(join(this.opts.outDir, name), { force: true })));
  }

  private async openNext(firstLine: Buffer): Promise<OpenChunk> {
    const index = this.chunks.length + 1;
    const name = `${this.opts.prefix}-${String(index).padStart(5, '0')}.jsonl`;
    const path = join(this.opts.outDir, name);
    const tmpPath = join(this.opts.outDir, `.${name}.tmp`);
    const handle = await open(tmpPath, 'w');
    this.current = { index, path, tmpPath, handle, requests: 0, bytes: 0, firstLine, lastLine: firstLine };
    return this.current;
  }

  private async flush(): Promise<void> {
    const chunk = this.current;
    if (chunk === undefined || this.group.length === 0) return;
    const data = Buffer.concat(this.group, this.groupBytes);
    this.group = [];
    this.groupBytes = 0;
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await chunk.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  }

  private async close(): Promise<void> {
    await this.flush();
    const chunk = this.current!;
    this.current = undefined;
    await chunk.handle.sync();
    await chunk.handle.close();
    await rename(chunk.tmpPath, chunk.path);
    await syncDir(this.opts.outDir);
    const info: ChunkInfo = {
      path: chunk.path,
      index: chunk.index,
      requests: chunk.requests,
      bytes: chunk.bytes,
      firstCustomId: peekCustomId(chunk.firstLine),
      lastCustomId: peekCustomId(chunk.lastLine),
    };
    this.chunks.push(info);
    this.onChunk(info);
  }
}

// Make the rename itself durable (best effort: not every platform can open a directory).
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // ignore
  } finally {
    await handle?.close().catch(() => {});
  }
}
