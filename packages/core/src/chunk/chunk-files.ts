import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import { KbatchError } from '../errors.js';
import { peekCustomId } from '../internal/line-splitter.js';
import type { ChunkInfo, ResolvedChunkWriterOptions } from './chunk-options.js';
import { planChunk, type ChunkCounter, type ChunkLimits } from './plan-chunk.js';
import { estimateLineTokens, lineMemo } from './line-tokens.js';
import { addRequestId, IdDigest } from '../job/part-verdict.js';

const STAGE_BYTES = 1 << 20;
const EMPTY: ChunkCounter = { requests: 0, bytes: 0, tokens: 0 };

interface OpenChunk extends ChunkCounter {
  tokens: number;
  index: number;
  path: string;
  tmpPath: string;
  handle: FileHandle;
  /** sha256 of the bytes written so far (in order), so the file need not be read again. */
  hash: Hash;
  /** The digest of its custom_ids so far; null once one could not be read from the bytes (an escape). */
  ids: IdDigest | null;
  firstCustomId: string | undefined;
  /** The last line written (a view during a write call, a copy between calls). */
  lastLine: Buffer;
}

/** What writing a chunk file measured besides its {@link ChunkInfo}: the sha256 of its bytes, and its custom_ids' digest. */
export interface ChunkDigest {
  sha256: string;
  /** See `IdDigest`; undefined when some custom_id could not be read from the bytes (the file is read then). */
  ids?: string | undefined;
}

/**
 * The file side of chunking: rotates files by `planChunk`, writes to `.<name>.tmp`, then fsyncs,
 * renames and fsyncs the directory before a chunk is reported. Lines are copied at once into one of two
 * reused 1 MiB staging buffers (one being written while the other fills), so callers may reuse the
 * memory their lines came from and no garbage buffers pile up.
 */
export class ChunkFiles {
  readonly chunks: ChunkInfo[] = [];
  private current: OpenChunk | undefined;
  private started = false;
  private stage = Buffer.allocUnsafe(STAGE_BYTES);
  private spare = Buffer.allocUnsafe(STAGE_BYTES);
  private staged = 0;
  private writing: Promise<void> = Promise.resolve();
  private finalizing: Promise<void> = Promise.resolve();
  private opened = 0;
  /** The token estimate's memo of the parts of lines that rarely vary (this writer's own). */
  private readonly memo = lineMemo();

  constructor(
    private readonly opts: ResolvedChunkWriterOptions,
    private readonly onChunk: (chunk: ChunkInfo, digest: ChunkDigest) => void = () => {},
  ) {}

  /**
   * Append lines (each without its newline). The lines are copied before this resolves.
   * @throws KbatchError LINE_TOO_LARGE when one line (plus newline) exceeds maxBytes, LINE_OVER_TOKEN_BUDGET when
   *   its estimated prompt tokens exceed maxBatchTokens (both before anything of it is written)
   */
  async write(lines: readonly Buffer[]): Promise<void> {
    if (!this.started) await this.start();
    const counted = this.opts.maxBatchTokens !== undefined || this.opts.countTokens;
    for (const line of lines) {
      const bytes = line.length + 1;
      const tokens = counted ? estimateLineTokens(line, this.memo) : 0;
      let chunk = this.current;
      const plan = planChunk(chunk ?? EMPTY, bytes, this.opts, tokens);
      if (plan === 'line-too-large' || plan === 'line-over-token-budget') throw oversizeLine(plan, line, { bytes, tokens }, this.opts);
      if (chunk !== undefined && plan === 'rotate') {
        await this.close();
        chunk = undefined;
      }
      chunk ??= await this.openNext(line);
      if (this.staged + bytes > this.stage.length) {
        await this.flush();
        if (bytes > this.stage.length) this.stage = Buffer.allocUnsafe(bytes);
      }
      line.copy(this.stage, this.staged);
      this.stage[this.staged + line.length] = 10;
      this.staged += bytes;
      chunk.requests++;
      chunk.bytes += bytes;
      chunk.tokens += tokens;
      chunk.lastLine = line;
      // Taken here so that settling the part later need not read the chunk file again.
      if (chunk.ids !== null && !addRequestId(chunk.ids, line, 0, line.length)) chunk.ids = null;
    }
    // The caller may reuse its buffers: keep our own copy of the last line (for lastCustomId).
    if (this.current !== undefined && lines.length > 0) this.current.lastLine = Buffer.from(this.current.lastLine);
  }

  /** Complete the last chunk; resolves with every chunk written. */
  async finish(): Promise<ChunkInfo[]> {
    if (this.current !== undefined) await this.close();
    await this.finalizing;
    return this.chunks;
  }

  /** Close and delete the unfinished chunk after a failure (finished chunks stay). */
  async abort(): Promise<void> {
    const chunk = this.current;
    this.current = undefined;
    this.staged = 0;
    await this.finalizing.catch(() => {});
    await this.writing.catch(() => {});
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
    const index = ++this.opened;
    const name = `${this.opts.prefix}-${String(index).padStart(5, '0')}.jsonl`;
    const path = join(this.opts.outDir, name);
    const tmpPath = join(this.opts.outDir, `.${name}.tmp`);
    const handle = await open(tmpPath, 'w');
    this.current = { index, path, tmpPath, handle, hash: createHash('sha256'), ids: new IdDigest(), requests: 0, bytes: 0, tokens: 0, firstCustomId: peekCustomId(firstLine), lastLine: firstLine };
    return this.current;
  }

  // Write the staged bytes; the spare buffer fills while they are written (it is free once the
  // previous write has finished).
  private async flush(): Promise<void> {
    const chunk = this.current;
    if (chunk === undefined || this.staged === 0) return;
    const data = this.stage.subarray(0, this.staged);
    chunk.hash.update(data);
    const previous = this.writing;
    this.writing = previous.then(() => writeAll(chunk.handle, data));
    this.writing.catch(() => {});
    await previous;
    const used = this.stage;
    this.stage = this.spare.length >= STAGE_BYTES ? this.spare : Buffer.allocUnsafe(STAGE_BYTES);
    this.spare = used.length === STAGE_BYTES ? used : Buffer.allocUnsafe(STAGE_BYTES);
    this.staged = 0;
  }

  // Finishing a chunk (fsync, rename, fsync the directory) overlaps with writing the next one;
  // chunks are still reported in order, each only once it is durable.
  private async close(): Promise<void> {
    await this.flush();
    const chunk = this.current!;
    this.current = undefined;
    // (The next chunk's first write waits for these too: the staging buffers are shared.)
    const writes = this.writing;
    await this.finalizing;
    this.finalizing = (async () => {
      await writes;
      await chunk.handle.sync();
      await chunk.handle.close();
      await rename(chunk.tmpPath, chunk.path);
      await syncDir(this.opts.outDir);
      const info: ChunkInfo = {
        path: chunk.path,
        index: chunk.index,
        requests: chunk.requests,
        bytes: chunk.bytes,
        firstCustomId: chunk.firstCustomId,
        lastCustomId: peekCustomId(chunk.lastLine),
        ...(this.opts.maxBatchTokens === undefined && !this.opts.countTokens ? {} : { tokens: chunk.tokens }),
      };
      this.chunks.push(info);
      this.onChunk(info, { sha256: chunk.hash.digest('hex'), ids: chunk.ids?.toString() });
    })();
    this.finalizing.catch(() => {});
  }
}

// A line no chunk can hold, named by its custom_id (nothing of the chunk it would have opened is written).
export function oversizeLine(plan: 'line-too-large' | 'line-over-token-budget', line: Buffer, size: { bytes: number; tokens: number }, limits: ChunkLimits): KbatchError {
  const id = peekCustomId(line);
  const request = `request ${id === undefined ? '(no custom_id)' : JSON.stringify(id)}`;
  if (plan === 'line-too-large') return new KbatchError('LINE_TOO_LARGE', `${request} is ${size.bytes} bytes, more than the ${limits.maxBytes}-byte file limit`, { customId: id });
  return new KbatchError(
    'LINE_OVER_TOKEN_BUDGET',
    `${request} is an estimated ${size.tokens} prompt tokens, more than the batch token budget (maxBatchTokens ${limits.maxBatchTokens}); raise the budget or shorten the request`,
    { customId: id, field: 'maxBatchTokens' },
  );
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
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
