// The client area's public exports (re-exported by src/index.ts).
export { createKlusterClient, KlusterClientOptionsSchema, KLUSTER_BASE_URL } from './create-kluster-client.js';
export type { KlusterClientOptions } from './create-kluster-client.js';
export {
  BatchSchema,
  FileObjectSchema,
  ListPageSchema,
  RequestCountsSchema,
  BatchErrorEntrySchema,
  TERMINAL_BATCH_STATUSES,
  isTerminalStatus,
  parseBatch,
  parseFile,
  parseResponse,
} from './schemas.js';
export type { KBatch, KFile, RequestCounts, BatchErrorEntry } from './schemas.js';
export { uploadFile, DEFAULT_UPLOAD_ATTEMPTS } from './upload-file.js';
export type { UploadClient, UploadFileOptions } from './upload-file.js';
export { isTransientError } from './retry.js';
export { createUndiciFetch, UndiciFetchOptionsSchema } from './undici-fetch.js';
export type { UndiciFetch, UndiciFetchOptions } from './undici-fetch.js';
export { createDirectChat, supportsDirectChat, DirectChatOptionsSchema } from './direct-chat.js';
export type { DirectChat, DirectChatOptions, DirectChatRequestOptions } from './direct-chat.js';
