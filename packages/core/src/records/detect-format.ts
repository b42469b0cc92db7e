import { extname } from 'node:path';
import { KbatchError } from '../errors.js';
import type { InputFormat } from './source-record.js';

const BY_EXTENSION: Record<string, InputFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
};

/**
 * The input format implied by a file name's extension (.csv, .tsv/.tab, .jsonl/.ndjson, .json).
 * Stdin (`-`) has no name, so callers must pass a format for it.
 * @throws KbatchError INPUT_FORMAT_UNKNOWN when the extension says nothing
 * @example detectFormat('reviews.csv') // 'csv'
 */
export function detectFormat(path: string): InputFormat {
  const format = BY_EXTENSION[extname(path).toLowerCase()];
  if (format !== undefined) return format;
  const what = path === '-' ? 'standard input' : `"${path}"`;
  throw new KbatchError(
    'INPUT_FORMAT_UNKNOWN',
    `cannot tell the format of ${what} from its name; pass a format (csv, tsv, jsonl or json)`,
    { file: path },
  );
}
