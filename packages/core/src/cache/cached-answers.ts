// The join's side of the request cache: the hits' result lines in, each valid fresh answer stored.
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ANSWER_SPOOL_DIR } from '../internal/stale-temps.js';
import { readFileLines } from '../job/lines.js';
import type { JoinOutcome } from '../join/join-record.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import type { AnswerCache } from './answer-cache.js';
import { REQUEST_KEYS_FILE } from './divert-cached.js';

/**
 * The results the cache gave a job (its hits' result lines, in input order), parsed as any result line is; none
 * when the file is absent (a job prepared without the cache).
 */
export async function* readCachedResults(file: string): AsyncGenerator<BatchResult> {
  try {
    for await (const { line, text } of readFileLines(file)) yield parseResultLine(text, { file, line });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Stores the answers of a job's sent requests (see {@link keepAnswers}). */
export interface AnswerKeeper {
  /** The outcome of the next sent request, in input order: stored when it succeeded (judged valid by the join). */
  keep(outcome: JoinOutcome): void;
  /** The outcome of sent request number `request` (input order), in any order (an unordered join): stored the same way. */
  keepAt(outcome: JoinOutcome, request: number): void;
  /**
   * Store what was kept, in key order, and wait for it to be committed (a store that failed is a warning: the rows
   * are written). The spool is removed.
   */
  close(): Promise<void>;
}

const KEY_BYTES = 32;
const KEYS_PER_READ = 2048;
/** A spool record: key, u32 length of the body, the body's JSON bytes. */
const RECORD_HEAD = KEY_BYTES + 4;
/** Answers per spool bucket (about 2 MB of them): the memory one bucket takes while it is sorted and stored. */
const ANSWERS_PER_BUCKET = 8192;
const MAX_BUCKETS = 256;
const BUCKET_BUFFER = 32 * 1024;

/** How often a long join hands its spool to the cache: a crash loses at most this much of the cache's share. */
const STORE_EVERY_MS = 30_000;
/** The spool is handed over once its buckets average this many bytes (long answers): the memory a bucket's store takes. */
const BUCKET_BYTES = 8 * 1024 * 1024;

export interface KeepAnswersOptions {
  onWarning?: (message: string) => void;
  /** Store what was spooled once this long has passed since the last store (default 30 s; 0: after every answer). */
  storeEveryMs?: number;
}

/**
 * Store each succeeded outcome under its request's key, read in step from the job's keys file (`run/request-keys.bin`:
 * one key per sent request, in input order, written as it was prepared): the join's verdict decides, no result line is parsed again.
 * The answers go through a spool in the job directory and reach the cache in key order (see {@link spoolToCache}).
 * Null when the job kept no keys (prepared without the cache).
 */
export function keepAnswers(cache: AnswerCache, jobDir: string, options: KeepAnswersOptions = {}): AnswerKeeper | null {
  let fd: number;
  try {
    fd = openSync(join(jobDir, REQUEST_KEYS_FILE), 'r');
  } catch {
    return null;
  }
  const block = Buffer.alloc(KEY_BYTES * KEYS_PER_READ);
  let have = 0;
  let at = 0;
  const nextKey = (): Buffer | null => {
    if (at >= have) {
      have = readSync(fd, block, 0, block.length, null);
      at = 0;
      if (have < KEY_BYTES) return null;
    }
    const key = block.subarray(at, at + KEY_BYTES);
    at += KEY_BYTES;
    return key;
  };
  const one = Buffer.alloc(KEY_BYTES);
  // A directory of this process's own (as every scratch file of a job): a join on another machine sharing the job's
  // storage never mixes its records in. One a killed join left is swept with the job's other temps (removeStaleJobTemps).
  const root = join(jobDir, ANSWER_SPOOL_DIR, `${process.pid}.${randomBytes(4).toString('hex')}`);
  const spool = spoolToCache(cache, root, fstatSync(fd).size / KEY_BYTES, options.storeEveryMs ?? STORE_EVERY_MS);
  const store = (key: Buffer | null, outcome: JoinOutcome): void => {
    if (key === null || outcome.status !== 'succeeded' || !outcome.result?.ok) return;
    spool.add(key, answerBodyJson(outcome.result));
  };
  return {
    keep: (outcome) => store(nextKey(), outcome),
    keepAt(outcome, request) {
      // Only a succeeded answer needs its key: one positional read each.
      if (outcome.status !== 'succeeded') return;
      store(readSync(fd, one, 0, KEY_BYTES, request * KEY_BYTES) === KEY_BYTES ? one : null, outcome);
    },
    async close() {
      closeSync(fd);
      const failure = await spool.close();
      if (failure !== null) options.onWarning?.(`answers could not be stored in the request cache in ${cache.dir}: ${(failure as Error).message}`);
    },
  };
}

interface CacheSpool {
  add(key: Buffer, body: string): void;
  /** Store the rest and remove the spool: resolves with the first failure (a full disk), null when all was stored. */
  close(): Promise<unknown>;
}

/**
 * Answers on their way to the cache: spooled into bucket files by their key's first byte under `root` (one
 * directory per generation), and stored bucket by bucket, sorted, every `everyMs` (a live or realtime join: what it
 * paid for reaches the cache as it goes), when the buckets hold 8 MB each on average (long answers), and at close().
 * Keys are hashes, and LMDB copies a page for every insert at a random place: stored as joined, answers cost several
 * times the CPU, a cache file several times larger, and a queue of uncommitted puts that grew with the job (the
 * README's session 12 figures). A generation is stored after the one before it, so the later of two answers to one
 * request wins.
 */
function spoolToCache(cache: Pick<AnswerCache, 'put' | 'flush'>, root: string, expected: number, everyMs: number): CacheSpool {
  let generation = 0;
  let spool = answerSpool(join(root, '0'), expected);
  let storedAt = Date.now();
  let storing: Promise<void> = Promise.resolve();
  let failure: unknown = null;
  const store = (full: AnswerSpool): void => {
    storing = storing
      .then(() => full.storeSorted(cache))
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => {
        try {
          rmSync(full.dir, { recursive: true, force: true });
        } catch {
          // removed with the rest of the spool at close()
        }
      });
  };
  const handOver = (): void => {
    storedAt = Date.now();
    if (spool.size === 0) return;
    const full = spool;
    spool = answerSpool(join(root, String(++generation)), expected);
    store(full);
  };
  // The clock also runs while no valid answer comes (failures, stragglers): what was spooled is not left waiting.
  // (Node runs a longer interval than 2^31-1 ms every millisecond: such a clock is none.)
  const timer = everyMs > 0 && everyMs <= 2 ** 31 - 1 ? setInterval(handOver, everyMs).unref() : null;
  return {
    add(key, body) {
      spool.add(key, body);
      if (spool.bytes >= spool.buckets * BUCKET_BYTES || Date.now() - storedAt >= everyMs) handOver();
    },
    async close() {
      if (timer) clearInterval(timer);
      if (spool.size > 0) store(spool);
      await storing;
      await cache.flush().catch((err: unknown) => {
        failure ??= err;
      });
      try {
        rmSync(root, { recursive: true, force: true });
        // The spools' directory too when no other join's is in it (ENOTEMPTY otherwise: left as it is).
        rmdirSync(dirname(root));
      } catch {
        // a spool left behind is swept by the next run of this job
      }
      return failure;
    },
  };
}

interface AnswerSpool {
  readonly dir: string;
  readonly buckets: number;
  /** Answers added, and the bytes they take in the spool. */
  readonly size: number;
  readonly bytes: number;
  add(key: Buffer, body: string): void;
  /** Every answer added, into `cache` in key order, one bucket at a time (each committed before the next is read). */
  storeSorted(cache: Pick<AnswerCache, 'put' | 'flush'>): Promise<void>;
}

/**
 * Answers bucketed by the first byte of their key into files under `dir` (made here), for about `expected` answers.
 * A write that fails (a full disk) stops the spool: storeSorted() throws it, and the join goes on.
 */
function answerSpool(dir: string, expected: number): AnswerSpool {
  const count = Math.min(MAX_BUCKETS, Math.max(1, Math.ceil(expected / ANSWERS_PER_BUCKET)));
  const buffers = Array.from({ length: count }, () => ({ buf: Buffer.allocUnsafe(BUCKET_BUFFER), length: 0, written: false }));
  const file = (bucket: number): string => join(dir, `${String(bucket).padStart(3, '0')}.bin`);
  let failure: unknown = null;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    failure = err;
  }
  const append = (bucket: number, bytes: Buffer): void => {
    if (failure !== null) return;
    try {
      appendFileSync(file(bucket), bytes);
      buffers[bucket]!.written = true;
    } catch (err) {
      failure = err;
    }
  };
  const spill = (bucket: number): void => {
    const b = buffers[bucket]!;
    if (b.length === 0) return;
    append(bucket, b.buf.subarray(0, b.length));
    b.length = 0;
  };
  let size = 0;
  let bytes = 0;
  return {
    dir,
    buckets: count,
    get size() {
      return size;
    },
    get bytes() {
      return bytes;
    },
    add(key, body) {
      // Counted even when the spool has failed: the store that follows reports the failure.
      size++;
      if (failure !== null) return;
      // Keys are sha256: their first byte spreads them evenly, and bucket order is key order.
      const bucket = (key[0]! * count) >> 8;
      const length = RECORD_HEAD + Buffer.byteLength(body);
      bytes += length;
      const b = buffers[bucket]!;
      if (b.length + length > b.buf.length) spill(bucket);
      if (length > b.buf.length) {
        // A long answer goes to the file on its own: the bucket's buffer stays 32 KB.
        const record = Buffer.allocUnsafe(length);
        key.copy(record, 0);
        record.writeUInt32LE(length - RECORD_HEAD, KEY_BYTES);
        record.write(body, RECORD_HEAD, 'utf8');
        append(bucket, record);
        return;
      }
      key.copy(b.buf, b.length);
      b.buf.writeUInt32LE(length - RECORD_HEAD, b.length + KEY_BYTES);
      b.buf.write(body, b.length + RECORD_HEAD, 'utf8');
      b.length += length;
    },
    async storeSorted(cache) {
      for (let bucket = 0; bucket < count; bucket++) spill(bucket);
      if (failure !== null) throw failure;
      for (let bucket = 0; bucket < count; bucket++) {
        if (!buffers[bucket]!.written) continue;
        const bytes = readFileSync(file(bucket));
        const records: Array<{ head: number; key: Buffer; body: Buffer }> = [];
        for (let i = 0; i < bytes.length; ) {
          const end = i + RECORD_HEAD > bytes.length ? Infinity : i + RECORD_HEAD + bytes.readUInt32LE(i + KEY_BYTES);
          // A torn record (a disk that failed mid-write): the rest of this generation is not stored, and close() says so.
          if (end > bytes.length) throw new Error(`${file(bucket)} ends inside a record at byte ${i}`);
          // The key's first 6 bytes as a number: most comparisons end there, without a call into Buffer.compare.
          records.push({ head: bytes.readUIntBE(i, 6), key: bytes.subarray(i, i + KEY_BYTES), body: bytes.subarray(i + RECORD_HEAD, end) });
          i = end;
        }
        // A stable sort: of two answers to one request, the later one is stored last (and wins), as the join kept them.
        records.sort((a, b) => a.head - b.head || Buffer.compare(a.key, b.key));
        for (const { key, body } of records) cache.put(key, body);
        await cache.flush();
      }
    },
  };
}

/**
 * The chat.completion body to store, as JSON: the result's own when the join kept it (a `keepRaw` run, or an answer
 * parsed whole, e.g. realtime), else one rebuilt from the fields the join read, marked `x_kbatch_rebuilt: true`. The
 * join of a lean run reads the download's verdicts, not the result lines, so the original bytes are not at hand without
 * reading every result again; the rebuilt body keeps what the join and the spend use (the answer, finish reason,
 * logprobs, usage) and drops the rest (id, created, model, system_fingerprint). A later `keepRaw` row from it says so
 * by the marker. Written as text, not an object stringified: a third of the time, once per stored answer.
 */
export function answerBodyJson(result: BatchResult): string {
  if (typeof result.body === 'object' && result.body !== null && Array.isArray((result.body as { choices?: unknown }).choices)) return JSON.stringify(result.body);
  const logprobs = result.logprobs ? `,"logprobs":{"content":${JSON.stringify(result.logprobs)}}` : '';
  const reasoning = result.reasoningTokens === undefined ? '' : `,"completion_tokens_details":{"reasoning_tokens":${json(result.reasoningTokens)}}`;
  const cached = result.cachedTokens === undefined ? '' : `,"prompt_tokens_details":{"cached_tokens":${json(result.cachedTokens)}}`;
  return (
    `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(result.response)}},` +
    `"finish_reason":${JSON.stringify(result.finishReason)}${logprobs}}],` +
    `"usage":{"prompt_tokens":${json(result.promptTokens)},"completion_tokens":${json(result.completionTokens)}${reasoning}${cached}},"x_kbatch_rebuilt":true}`
  );
}

/** A token count as JSON (a number or null; anything else, which a parsed result never holds, as JSON would say it). */
function json(n: number | null): string {
  return typeof n === 'number' && Number.isFinite(n) ? String(n) : 'null';
}
