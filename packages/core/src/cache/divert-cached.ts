// The one place a rendered request meets the cache: a hit becomes a result line in the job, a miss goes on to a chunk.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { Transform, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { LineSplitter } from '../internal/line-splitter.js';
import type { AnswerCache } from './answer-cache.js';
import { ID_JSON_START, readRequestHead, requestKey, requestLineKeys } from './request-key.js';

/** A job's cache hits as result lines (job-relative; OpenAI batch output lines, in input order). */
export const CACHED_RESULTS_FILE = 'run/cached.results.jsonl';
/** A job's sent requests' cache keys (job-relative; 32 bytes each, in input order). */
export const REQUEST_KEYS_FILE = 'run/request-keys.bin';

/** Options of {@link divertCached}. */
export interface DivertCachedOptions {
  cache: AnswerCache;
  /** The provider's profile name (part of every key). */
  provider: string;
  /** Where each hit's result line goes (an OpenAI batch output line, in input order). */
  resultsFile: string;
  /** Where each miss's key goes (32 bytes, in input order): the join stores the miss's answer under it. */
  keysFile: string;
}

/** The diversion's stream (request lines in, the lines to send out) and its count once {@link CacheDiversion.finish}ed. */
export interface CacheDiversion {
  stream: Transform;
  /** Close the job's files (awaited before anything is uploaded) and say how many requests the cache answered. */
  finish(): Promise<{ cached: number }>;
}

/**
 * Request lines in, the requests the cache cannot answer out: each line's key is looked up; a hit is written to
 * `resultsFile` as the result line the join reads (never sent), a miss is passed on and its key kept in `keysFile`.
 * @example const d = divertCached({ cache, provider: 'kluster', resultsFile, keysFile }); prepared.pipe(d.stream);
 */
export function divertCached(options: DivertCachedOptions): CacheDiversion {
  const { cache, provider } = options;
  // A few chunks' worth of buffer: the disk writes one chunk's hits while the next chunk is looked up (bounded memory).
  const results = createWriteStream(options.resultsFile, { highWaterMark: 1 << 22 });
  const keys = createWriteStream(options.keysFile, { highWaterMark: 1 << 20 });
  const splitter = new LineSplitter();
  let cached = 0;
  let flushed = false;
  const keyOf = cacheLineKey(provider);
  const divert = (lines: Buffer[]): Buffer => {
    const misses: Buffer[] = [];
    const missKeys: Buffer[] = [];
    const hits = new ByteSink();
    for (const line of lines) {
      if (line.length === 0) continue;
      const { key, idJson } = keyOf(line);
      const body = cache.lookup(key);
      if (body !== undefined) {
        // Written from the stored bytes at once: lookup's buffer is only valid until the next lookup.
        hits.write(HIT_HEAD, idJson, HIT_MIDDLE, body, HIT_TAIL);
        cached++;
        continue;
      }
      missKeys.push(key);
      misses.push(line, NEWLINE);
    }
    if (hits.length > 0) results.write(hits.take());
    if (missKeys.length > 0) keys.write(Buffer.concat(missKeys));
    return Buffer.concat(misses);
  };
  const stream = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        const out = divert(splitter.push(chunk));
        if (out.length > 0) this.push(out);
        // The job's files keep pace with the requests (memory stays one read's worth).
        if (results.writableNeedDrain || keys.writableNeedDrain) void drained([results, keys]).then(() => callback(), callback);
        else callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        const out = divert(splitter.end());
        if (out.length > 0) this.push(out);
        flushed = true;
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    destroy(err, callback) {
      // A reader destroys the stream once it has read it all: the files are then closed by finish(), whole.
      if (err || !flushed) {
        results.destroy();
        keys.destroy();
      }
      callback(err);
    },
  });
  return {
    stream,
    async finish() {
      results.end();
      keys.end();
      await Promise.all([finished(results), finished(keys)]);
      return { cached };
    },
  };
}

const NEWLINE = Buffer.from('\n');
const HIT_HEAD = Buffer.from('{"custom_id":');
const HIT_MIDDLE = Buffer.from(',"response":{"status_code":200,"body":');
const HIT_TAIL = Buffer.from('}}\n');

/**
 * A request line's key and its custom_id as JSON: read from the bytes for a line kbatch's encoder wrote (no parse),
 * else from the parsed line (same key for the same request, see requestKey). The one key function of a run's lines:
 * the diversion and the estimate both use it.
 * @example const keyOf = cacheLineKey('kluster'); cache.lookup(keyOf(line).key);
 */
export function cacheLineKey(provider: string): (line: Buffer) => { key: Buffer; idJson: Buffer } {
  const fast = requestLineKeys(provider);
  return (line) => {
    const head = readRequestHead(line);
    if (head !== null) return { key: fast.of(line, head), idJson: line.subarray(ID_JSON_START, head.idEnd) };
    const request = JSON.parse(line.toString('utf8')) as { custom_id: unknown; body: Record<string, unknown> };
    return { key: requestKey({ provider, body: request.body }), idJson: Buffer.from(JSON.stringify(request.custom_id) ?? 'null') };
  };
}

/** Bytes appended into one growing buffer (copied in: the pieces may be reused by their owner right after). */
class ByteSink {
  // Allocated on the first write: a chunk without hits (an empty cache) costs nothing.
  private buf = Buffer.alloc(0);
  length = 0;

  write(...pieces: Buffer[]): void {
    let size = this.length;
    for (const p of pieces) size += p.length;
    if (size > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(size, this.buf.length * 2, 1 << 16));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    for (const p of pieces) {
      this.buf.set(p, this.length);
      this.length += p.length;
    }
  }

  /** The bytes written (handed over, not copied: the sink is not written again). */
  take(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

async function drained(streams: WriteStream[]): Promise<void> {
  for (const s of streams) if (s.writableNeedDrain) await once(s, 'drain');
}
