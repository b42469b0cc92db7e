// Public barrel: named exports only, one line per area (each area keeps its own index.ts).
export { KbatchError, isKbatchError, KBATCH_ERROR_CODES } from './errors.js';
export type { KbatchErrorCode, KbatchErrorContext } from './errors.js';
export { parseOptions } from './options.js';
export * from './records/index.js';
export * from './request/index.js';
export * from './chunk/index.js';
export * from './client/index.js';
export * from './batch/index.js';
export * from './state/index.js';
export * from './job/index.js';
export * from './join/index.js';
export * from './realtime/index.js';
export * from './finetune/index.js';
export * from './answers/index.js';
export * from './output/index.js';
export * from './run/index.js';
