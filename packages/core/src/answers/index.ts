// The answers area: interpreting model answers as labels or schema-checked JSON (re-exported by src/index.ts).
export { buildLabelInstruction, parseLabel, normalizeLabels, cleanLabelAnswer } from './labels.js';
export { labelConfidence } from './confidence.js';
export type { TokenLogprob } from './confidence.js';
export { parseJsonAnswer } from './json-answer.js';
export { compileAnswerSchema, loadAnswerSchema, buildSchemaInstruction, parseSchemaAnswer } from './answer-schema.js';
export type { AnswerSchema, JsonSchema } from './answer-schema.js';
export { createAnswerParser, appendInstruction, AnswerOptionsSchema } from './answer-parser.js';
export type { AnswerOptions, AnswerParser, ParsedAnswer } from './answer-parser.js';
