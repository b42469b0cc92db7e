export type { InputFormat, SourceRecord } from './types.js';
