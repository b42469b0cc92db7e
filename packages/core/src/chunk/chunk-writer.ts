import { Writable } from 'node:stream';
import { parseOptions } from '../options.js';
import { ChunkWriterOptionsSchema, type ChunkInfo, type ChunkWriterOptions } from './chunk-options.js';
import { ChunkFiles } from './chunk-files.js';

/** A Writable of request lines that also tells which chunk files it wrote. */
export interface ChunkWriter extends Writable {
  /** Resolves after 'finish' with every chunk file written (rejects if the writer failed). */
  readonly chunks: Promise<ChunkInfo[]>;
}

/**
 * Object-mode Writable: each chunk written is one request — a serialized line (string or Buffer, trailing
 * newline optional) or a `BatchRequestLine` object. Files rotate at `maxRequests` / `maxBytes`; each file is
 * written as a temp file, fsynced and renamed before it is reported by a `chunk` event.
 * @example
 * const writer = chunkWriter({ outDir: 'chunks', maxBytes: '100MB' });
 * await pipeline(recordStream({ input: 'a.csv' }), requestStream({ model, prompt }), writer);
 * console.log(await writer.chunks);
 */
export function chunkWriter(options: ChunkWriterOptions): ChunkWriter {
  const opts = parseOptions(ChunkWriterOptionsSchema, options, 'chunkWriter');
  let resolveChunks!: (chunks: ChunkInfo[]) => void;
  let rejectChunks!: (err: unknown) => void;
  const chunks = new Promise<ChunkInfo[]>((resolve, reject) => {
    resolveChunks = resolve;
    rejectChunks = reject;
  });
  chunks.catch(() => {});
  const writer = new Writable({
    objectMode: true,
    highWaterMark: 1024,
    writev(entries, callback) {
      files.write(entries.map(({ chunk }) => toLine(chunk))).then(() => callback(), callback);
    },
    final(callback) {
      files.finish().then((list) => {
        resolveChunks(list);
        callback();
      }, callback);
    },
    destroy(err, callback) {
      if (err) rejectChunks(err);
      files.abort().then(() => callback(err), () => callback(err));
    },
  }) as ChunkWriter;
  const files = new ChunkFiles(opts, (chunk) => writer.emit('chunk', chunk));
  Object.defineProperty(writer, 'chunks', { value: chunks });
  return writer;
}

function toLine(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk);
  if (Buffer.isBuffer(chunk)) return chunk.length > 0 && chunk[chunk.length - 1] === 10 ? chunk.subarray(0, -1) : chunk;
  return Buffer.from(JSON.stringify(chunk));
}
