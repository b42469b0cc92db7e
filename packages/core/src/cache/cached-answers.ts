// The join's side of the request cache: the hits' result lines in, each valid fresh answer stored.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFileLines } from '../job/lines.js';
import type { JoinOutcome } from '../join/join-record.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import type { AnswerCache } from './answer-cache.js';

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
  /** Close the keys file and wait for the stores to be committed (a store that failed is a warning: the rows are written). */
  close(): Promise<void>;
}

const KEY_BYTES = 32;
const KEYS_PER_READ = 2048;

/**
 * Store each succeeded outcome under its request's key, read in step from the job's keys file (one key per sent
 * request, in input order, written as it was prepared): the join's verdict decides, no result line is parsed again.
 * Null when the job kept no keys (prepared without the cache).
 */
export function keepAnswers(cache: AnswerCache, keysFile: string, onWarning?: (message: string) => void): AnswerKeeper | null {
  let fd: number;
  try {
    fd = openSync(keysFile, 'r');
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
  const store = (key: Buffer | null, outcome: JoinOutcome): void => {
    if (key === null || outcome.status !== 'succeeded' || !outcome.result?.ok) return;
    cache.put(key, JSON.stringify(answerBody(outcome.result)));
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
      await cache.flush().catch((err: unknown) => onWarning?.(`answers could not be stored in the request cache in ${cache.dir}: ${(err as Error).message}`));
    },
  };
}

/**
 * The chat.completion body to store: the result's own when the join kept it (a `keepRaw` run, or an answer parsed whole,
 * e.g. realtime), else one rebuilt from the fields the join read, marked `x_kbatch_rebuilt: true`. The join of a lean
 * run reads the download's verdicts, not the result lines, so the original bytes are not at hand without reading every
 * result again; the rebuilt body keeps what the join and the spend use (the answer, finish reason, logprobs, usage)
 * and drops the rest (id, created, model, system_fingerprint). A later `keepRaw` row from it says so by the marker.
 */
function answerBody(result: BatchResult): unknown {
  if (typeof result.body === 'object' && result.body !== null && Array.isArray((result.body as { choices?: unknown }).choices)) return result.body;
  return {
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: result.response },
        finish_reason: result.finishReason,
        ...(result.logprobs ? { logprobs: { content: result.logprobs } } : {}),
      },
    ],
    usage: {
      prompt_tokens: result.promptTokens,
      completion_tokens: result.completionTokens,
      ...(result.reasoningTokens === undefined ? {} : { completion_tokens_details: { reasoning_tokens: result.reasoningTokens } }),
      ...(result.cachedTokens === undefined ? {} : { prompt_tokens_details: { cached_tokens: result.cachedTokens } }),
    },
    x_kbatch_rebuilt: true,
  };
}
