export type { ChatMessage, ChatRequestBody, BatchRequestLine } from './types.js';
