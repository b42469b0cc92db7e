import { extname } from 'node:path';
import { KbatchError } from '../errors.js';

/** Output formats of joined records. `tsv` is CSV with a tab delimiter. */
export const OUTPUT_FORMATS = ['jsonl', 'csv', 'tsv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const BY_EXTENSION: Record<string, OutputFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.json': 'json',
};

/**
 * Pick the output format: the explicit one, else the file's extension, else JSON Lines (also for stdout).
 * @example resolveOutputFormat(undefined, 'out.csv') // 'csv'
 */
export function resolveOutputFormat(format: string | undefined, path?: string): OutputFormat {
  if (format !== undefined) {
    if ((OUTPUT_FORMATS as readonly string[]).includes(format)) return format as OutputFormat;
    throw new KbatchError('OPTION_INVALID', `Invalid option \`outputFormat\`: must be one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`, {
      field: 'outputFormat',
    });
  }
  if (path === undefined || path === '-') return 'jsonl';
  return BY_EXTENSION[extname(path).toLowerCase()] ?? 'jsonl';
}
