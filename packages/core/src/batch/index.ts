// The batch area's public exports (re-exported by src/index.ts).
export { createBatch, retrieveBatch, CHAT_COMPLETIONS_ENDPOINT } from './create-batch.js';
export type { CreateBatchParams } from './create-batch.js';
export { findBatchByMetadata, listAllBatches, listRawBatches, metadataMatches } from './find-batch.js';
export type { FindBatchOptions } from './find-batch.js';
export { downloadFile } from './download-file.js';
export type { DownloadFileOptions, DownloadResult } from './download-file.js';
