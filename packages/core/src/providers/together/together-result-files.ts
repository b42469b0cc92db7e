import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type OpenAI from 'openai';
import { isTerminalStatus, type KBatch } from '../../client/schemas.js';
import { customIdOf } from '../../job/lines.js';
import { mayHaveRun } from './together-batch-view.js';

/** What kbatch knows of the batch's chunk (from its manifest). */
export interface ExpectedResults {
  /** Requests in the chunk the batch runs. */
  requests: number;
  signal?: AbortSignal;
}

/**
 * Whether an ended Together batch's result files are all named, so its missing requests truly never ran. Together
 * sends no request counts, and neither its docs nor its clients say the output and error files are named at once
 * (together-py's `tg batches download` reads the job once at a final status and takes whichever files it names). So a
 * batch that may have run and names only its error file is complete only when that file answers every request of the
 * chunk (distinct custom_ids): otherwise its output file may be named later, and reading the batch now would take its
 * answered (paid) requests for never run and send them again. Every other batch is complete as it stands.
 * @param counted - error file id → distinct custom_ids already counted (a file never changes; polls repeat).
 */
export async function togetherResultFilesComplete(
  files: Pick<OpenAI['files'], 'content'>,
  batch: KBatch,
  expected: ExpectedResults,
  counted: Map<string, number>,
): Promise<boolean> {
  const errorFile = batch.error_file_id;
  if (!isTerminalStatus(batch.status) || batch.output_file_id || !errorFile) return true;
  const progress = typeof batch['progress'] === 'number' ? batch['progress'] : undefined;
  if (!mayHaveRun({ status: batch.status, progress, error: batch.errors?.data[0]?.message ?? null })) return true;
  let ids = counted.get(errorFile);
  if (ids === undefined) {
    ids = await countResultIds(files, errorFile, expected.signal);
    counted.set(errorFile, ids);
  }
  return ids >= expected.requests;
}

// The distinct custom_ids of a result file, streamed (at most one chunk's ids are held: an error file answers one chunk).
async function countResultIds(files: Pick<OpenAI['files'], 'content'>, fileId: string, signal: AbortSignal | undefined): Promise<number> {
  const response = await files.content(fileId, signal ? { signal } : {});
  if (!response.body) return 0;
  const ids = new Set<string>();
  const lines = createInterface({ input: Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), crlfDelay: Infinity });
  for await (const line of lines) {
    const id = line.trim() === '' ? null : customIdOf(line.trim());
    if (id !== null) ids.add(id);
  }
  return ids.size;
}
