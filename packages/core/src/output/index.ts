// The output area: joined records → JSON Lines, CSV/TSV or a JSON array (re-exported by src/index.ts).
export { OUTPUT_FORMATS, resolveOutputFormat } from './output-format.js';
export type { OutputFormat } from './output-format.js';
export { flattenRow } from './flatten-row.js';
export { jsonLinesStringifier } from './json-lines-stringifier.js';
export { jsonArrayStringifier } from './json-array-stringifier.js';
export { csvRowStringifier, CsvRowStringifierOptionsSchema } from './csv-row-stringifier.js';
export type { CsvRowStringifierOptions } from './csv-row-stringifier.js';
export { outputStream } from './output-stream.js';
export type { OutputStreamOptions } from './output-stream.js';
