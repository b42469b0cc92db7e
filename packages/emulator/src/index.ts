// Public barrel of @kbatch/emulator.
export { startEmulator, type Emulator, type EmulatorStats } from './server.js';
export { chatSettled } from './settled.js';
export {
  EmulatorOptionsSchema,
  FaultOptionsSchema,
  UpstreamOptionsSchema,
  EmulatorOptionError,
  parseEmulatorOptions,
  type EmulatorOptions,
  type ResolvedEmulatorOptions,
  type FaultOptions,
  type UpstreamOptions,
  type ChatRequestBody,
} from './options.js';
export { respond, detectLabels, pickLabel, sentimentScore, type ResponderAnswer } from './responder.js';
export { tokenize } from './completion.js';
export { REFERENCE_MODELS, FINE_TUNABLE_MODELS } from './models.js';
export type { BatchObject, BatchStatus, BatchErrorEntry, FileObject, FineTuningJobObject, RequestCounts } from './store.js';
