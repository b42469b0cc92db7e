import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { KbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import { LineSplitter } from '../internal/line-splitter.js';
import { ChunkWriterOptionsSchema, type ChunkInfo, type ChunkWriterOptions } from './chunk-options.js';
import { ChunkFiles, type ChunkDigest } from './chunk-files.js';

const InputSchema = z.object({
  input: z.union([z.string().min(1), z.instanceof(Readable)], { error: 'must be a path, "-" or a Readable' }).default('-'),
  stdin: z.custom<NodeJS.ReadableStream>((v) => typeof v === 'object' && v !== null, { error: 'must be a readable stream' }).optional(),
  onChunk: z.custom<(chunk: ChunkInfo, digest: ChunkDigest) => void>((v) => typeof v === 'function', { error: 'must be a function' }).optional(),
});

/** Options of `splitRequests`: a request-lines input plus the chunk options. */
export type SplitRequestsOptions = z.input<typeof InputSchema> & ChunkWriterOptions;

/** What `splitRequests` wrote. */
export interface SplitSummary {
  chunks: ChunkInfo[];
  requests: number;
  bytes: number;
}

/**
 * Split a JSONL file of request lines into chunk files (the `kbatch split` command). Lines are handled as
 * bytes (never decoded); blank lines are dropped; a line that is not a JSON object is LINE_INVALID.
 * @example const { chunks } = await splitRequests({ input: 'requests.jsonl', outDir: 'chunks', maxRequests: 10_000 });
 */
export async function splitRequests(options: SplitRequestsOptions): Promise<SplitSummary> {
  const { input, stdin, onChunk, ...chunkOptions } = options;
  const io = parseOptions(InputSchema, { input, stdin, onChunk }, 'splitRequests');
  const opts = parseOptions(ChunkWriterOptionsSchema, chunkOptions, 'splitRequests');
  const file = typeof io.input === 'string' ? io.input : '-';
  const source = await openInput(io.input, io.stdin);
  const files = new ChunkFiles(opts, io.onChunk);
  const splitter = new LineSplitter();
  let lineNo = 0;
  const check = (lines: Buffer[]): Buffer[] => {
    let blank = 0;
    for (const line of lines) {
      lineNo++;
      if (line.length === 0) {
        blank++;
        continue;
      }
      if (line[0] !== 0x7b || line[line.length - 1] !== 0x7d) {
        throw new KbatchError('LINE_INVALID', `${file}:${lineNo}: not a JSON object (a request line must be {"custom_id":…})`, {
          file,
          line: lineNo,
        });
      }
    }
    return blank === 0 ? lines : lines.filter((line) => line.length > 0);
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      await files.write(check(splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)));
    }
    await files.write(check(splitter.end()));
    const chunks = await files.finish();
    return {
      chunks,
      requests: chunks.reduce((sum, c) => sum + c.requests, 0),
      bytes: chunks.reduce((sum, c) => sum + c.bytes, 0),
    };
  } catch (err) {
    await files.abort();
    if (typeof (source as Readable).destroy === 'function' && source !== io.stdin && source !== process.stdin) (source as Readable).destroy();
    throw err;
  }
}

async function openInput(
  input: string | Readable,
  stdin: NodeJS.ReadableStream | undefined,
): Promise<AsyncIterable<Buffer | string>> {
  if (typeof input !== 'string') return input;
  if (input === '-') return (stdin ?? process.stdin) as AsyncIterable<Buffer | string>;
  try {
    const info = await stat(input);
    if (!info.isFile() && !info.isFIFO()) throw new Error('not a file');
  } catch (cause) {
    throw new KbatchError('INPUT_NOT_FOUND', `cannot read input "${input}": no such file`, { file: input, cause });
  }
  return readReusing(input);
}

// Read a file through one reused buffer: every chunk is fully consumed (lines copied) before the next
// read, so no garbage buffers pile up between garbage collections.
async function* readReusing(path: string): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
