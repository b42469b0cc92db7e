// The request area's public surface: records → chat-completion batch request lines.
export type { ChatMessage, ChatRequestBody, BatchRequestLine } from './request-line.js';
export { ChatParamsSchema, RequestOptionsSchema } from './request-options.js';
export type { ChatParams, RequestOptions, ResolvedRequestOptions } from './request-options.js';
export { compileTemplate } from './template.js';
export type { CompiledTemplate, RenderContext } from './template.js';
export { customIdFor, createIdRegistry } from './custom-id.js';
export type { IdRegistry } from './custom-id.js';
export { toBatchRequest, createRequestBuilder } from './to-batch-request.js';
export type { RequestBuilder } from './to-batch-request.js';
export { requestStream } from './request-stream.js';
export type { RequestStreamOptions } from './request-stream.js';
export { prepareRequests } from './prepare-requests.js';
export type { PrepareRequestsOptions, PrepareSummary } from './prepare-requests.js';
