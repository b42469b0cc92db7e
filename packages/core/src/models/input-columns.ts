// The input's column names before any model runs: the combined CSV declares them, and no model field may overwrite one.
import { KbatchError } from '../errors.js';
import { recordBatches } from '../records/record-batches.js';
import type { ReadRecordsOptions } from '../records/read-options.js';

/** The input's columns: a CSV/TSV header (`header: true`), else a JSON input's first record's keys. */
export interface InputColumns {
  columns: string[];
  header: boolean;
}

/**
 * The input's columns, reading only as far as its first record (a malformed one is passed over, as `skip` would).
 * @example const { columns } = await inputColumns({ input: 'reviews.csv', format: 'csv' }); // ['id', 'text', 'sentiment']
 */
export async function inputColumns(read: Pick<ReadRecordsOptions, 'format' | 'delimiter' | 'encoding'> & { input: string }): Promise<InputColumns> {
  let header: string[] | null = null;
  const batches = recordBatches({ ...read, onInvalidRecord: 'skip', onHeader: (columns) => (header = columns) });
  try {
    for await (const batch of batches) {
      if (header !== null) break;
      if (batch[0] !== undefined) return { columns: Object.keys(batch[0].data), header: false };
    }
  } finally {
    await batches.return(undefined);
  }
  return header === null ? { columns: [], header: false } : { columns: header, header: true };
}

/**
 * Fail before any model runs when an input column has the name of a model's field in the combined row (`ALIAS.label`):
 * the zip would overwrite it. JOIN_FIELD_COLLISION, as a single run's, suggesting a prefix for the added fields.
 * @param added - the fields each model's join adds (the join plan's `fields`, prefixed)
 */
export function assertNoModelCollision(input: { file: string; columns: readonly string[] }, aliases: readonly string[], added: { fields: readonly string[]; prefix: string }): void {
  const names = new Set(input.columns);
  for (const alias of aliases) {
    for (const field of added.fields) {
      const name = `${alias}.${field}`;
      if (!names.has(name)) continue;
      const suggestion = added.prefix === '' ? 'kb_' : `kb_${added.prefix}`;
      throw new KbatchError(
        'JOIN_FIELD_COLLISION',
        `${input.file}: input field "${name}" would be overwritten by the field kbatch adds for model ${alias}; set a prefix for added fields, e.g. --prefix ${suggestion} (option \`prefix: '${suggestion}'\`) to name it "${alias}.${suggestion}${field.slice(added.prefix.length)}"`,
        { field: name, file: input.file },
      );
    }
  }
}
