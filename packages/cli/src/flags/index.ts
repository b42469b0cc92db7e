// Flag builders and flag → core option mappers shared by commands.
export { addRequestFlags, requestOptionsFromFlags, REQUEST_FLAG_OPTIONS } from './request-flags.js';
export type { RequestFlags } from './request-flags.js';
export { addInputFlags, inputOptionsFromFlags, INPUT_FLAG_OPTIONS } from './input-flags.js';
export type { InputFlags } from './input-flags.js';
export { addChunkFlags, chunkOptionsFromFlags, CHUNK_FLAG_OPTIONS } from './chunk-flags.js';
export type { ChunkFlags } from './chunk-flags.js';
export { withFlagNames, flagName } from './flag-errors.js';
export { numberArg, collectArg, parseLogitBias } from './numbers.js';
export { parseLabels } from './labels.js';
export { addClientFlags, addJobFlags, addProviderFlag, clientFromFlags, jobClientFlags, jobOptionsFromFlags, parseDuration, progressMode } from './client-flags.js';
export type { ClientFlags, JobFlags, KlusterClient } from './client-flags.js';
export { emulatorPersonality } from './emulator-provider.js';
export { addEvalFlags, addSampleFlags, evalOptionsFromFlags, sampleFromFlags } from './eval-flags.js';
export type { EvalFlags, SampleFlags } from './eval-flags.js';
export { addDatabaseFlags, databaseUrl, openCommandStore, withCommandStore } from './database-flags.js';
export type { DatabaseFlags } from './database-flags.js';
