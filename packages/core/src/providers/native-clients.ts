import type OpenAI from 'openai';
import type { ApiShape, ProviderProfile } from './provider-profile.js';
import { createAnthropicClient } from './anthropic/anthropic-client.js';
import { checkRequestLine as checkAnthropicLine } from './anthropic/batch-input.js';
import { createGeminiClient } from './gemini/create-gemini-client.js';
import { toGeminiLine } from './gemini/gemini-lines.js';
import { createTogetherClient } from './together/create-together-client.js';

/** What a native adapter is built from: resolved by `createClient` (key and base URL never come from disk). */
export interface NativeClientInit {
  profile: ProviderProfile;
  apiKey: string;
  /** As the provider's official SDK takes it (Anthropic's and Gemini's: the bare origin). */
  baseURL: string;
  maxRetries?: number;
  timeout?: number;
  fetch?: typeof fetch;
}

/**
 * Builds the client of a provider whose wire format is not OpenAI's. The client offers the part of the openai client
 * kbatch uses (`chat.completions.create`, `batches.create|retrieve|list|cancel`, `files.content|delete|list`, plus
 * `uploadBatchInput`) and translates at its edge, so prepare, the job, retries and the join stay one path.
 */
export type NativeClientFactory = (init: NativeClientInit) => OpenAI;

/** The native adapter of each API shape that has one (OpenAI-shaped profiles use the openai client itself). */
export const NATIVE_CLIENTS: Partial<Record<ApiShape, NativeClientFactory>> = {
  'anthropic-batch': createAnthropicClient,
  'gemini-batch': createGeminiClient,
  'together-batch': createTogetherClient,
};

/** A native adapter's check of one request line (1-based `line`): throws what its mapping would. */
export type NativeRequestCheck = (text: string, line: number) => void;

/**
 * Checks one request line the way a native adapter maps it (throwing what the adapter would, e.g. PARAM_UNSUPPORTED),
 * so lint, submit and a run refuse a parameter its provider does not take before anything is sent.
 */
export const NATIVE_REQUEST_CHECKS: Partial<Record<ApiShape, NativeRequestCheck>> = {
  'gemini-batch': (text, line) => void toGeminiLine(text, line),
  'anthropic-batch': checkAnthropicLine,
};
