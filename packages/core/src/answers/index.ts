// The answers area's public surface: interpreting model answers as labels or schema-checked JSON (re-exported
// by src/index.ts; the building blocks are in src/internal.ts).
export { loadAnswerSchema } from './answer-schema.js';
export type { AnswerSchema, JsonSchema } from './answer-schema.js';
export { createAnswerParser, AnswerOptionsSchema } from './answer-parser.js';
export type { AnswerOptions, AnswerParser, ParsedAnswer } from './answer-parser.js';
