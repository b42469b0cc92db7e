// The batch area's public surface: create, retrieve and download (re-exported by src/index.ts).
export { createBatch, retrieveBatch, OutputExpiresAfterSchema } from './create-batch.js';
export type { CreateBatchParams } from './create-batch.js';
export { downloadFile } from './download-file.js';
export type { DownloadFileOptions, DownloadResult } from './download-file.js';
