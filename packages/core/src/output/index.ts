// The output area's public surface: joined records → JSON Lines, CSV/TSV or a JSON array (re-exported by src/index.ts).
export { OUTPUT_FORMATS } from './output-format.js';
export type { OutputFormat } from './output-format.js';
export type { CsvRowStringifierOptions } from './csv-row-stringifier.js';
export { outputStream } from './output-stream.js';
export type { OutputStreamOptions } from './output-stream.js';
