// The client area's public surface: the openai client, server objects, streamed upload (re-exported by src/index.ts).
export { createClient, createKlusterClient, KlusterClientOptionsSchema, KLUSTER_BASE_URL } from './create-kluster-client.js';
export type { KlusterClientOptions, ClientProvider } from './create-kluster-client.js';
export { BatchSchema, FileObjectSchema } from './schemas.js';
export type { KBatch, KFile, RequestCounts, BatchErrorEntry } from './schemas.js';
export { uploadFile } from './upload-file.js';
export type { UploadClient, UploadFileOptions } from './upload-file.js';
