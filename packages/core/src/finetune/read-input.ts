import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { KbatchError } from '../errors.js';
import type { SourceRecord } from '../records/index.js';

/** Where prepareTrainingData reads records from when given a path (`-` = `stdin`). */
export interface RecordInput {
  input: string;
  format?: string | undefined;
  stdin?: NodeJS.ReadableStream | undefined;
}

// Seam over the records area: replaced by its reader once it lands (JSONL only until then).
export async function* openRecords({ input, stdin }: RecordInput): AsyncGenerator<SourceRecord> {
  const source = input === '-' ? (stdin ?? process.stdin) : createReadStream(input);
  let line = 0;
  let index = 0;
  for await (const text of createInterface({ input: source, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (cause) {
      throw new KbatchError('RECORD_INVALID', `line ${line} is not JSON`, { file: input, line, cause });
    }
    index++;
    yield { index, line, data: data as Record<string, unknown> };
  }
}
