// The native adapter for Anthropic Message Batches: the openai-client subset kbatch uses, translated at its edge.
import type OpenAI from 'openai';
import { APIError } from 'openai';
import type { Anthropic } from '@anthropic-ai/sdk';
import { KbatchError } from '../../errors.js';
import type { UploadFileOptions } from '../../client/upload-file.js';
import type { NativeClientInit } from '../native-clients.js';
import { createBody, resolveStagedId, stageChunk, stagedChunk } from './batch-input.js';
import { chunkTag, tagOf } from './custom-id-codec.js';
import { DEFAULT_MAX_TOKENS, toMessagesParams } from './to-messages-params.js';
import { toChatCompletion, type AnthropicMessage } from './to-chat-completion.js';
import { parseResultsFileId, toOpenAIBatch, toOpenAIResultLine, type AnthropicBatch, type AnthropicResultLine } from './to-openai-batch.js';
import { mapErrors, toOpenAIError } from './to-openai-error.js';

type Options = { signal?: AbortSignal | null | undefined; maxRetries?: number; timeout?: number } | undefined;
const call = (options: Options) => ({
  ...(options?.signal ? { signal: options.signal } : {}),
  ...(options?.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
  ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
});

/**
 * Build the Anthropic adapter (registered as NATIVE_CLIENTS['anthropic-batch']). @anthropic-ai/sdk is imported on
 * first use only (kluster users never load it). Requests are mapped by {@link toMessagesParams}, batches and
 * results back to OpenAI's shapes, errors to the openai SDK's classes. Anthropic batches carry no metadata
 * (`batchMetadata: false`): a lost create is recovered by count and time (see job/batch-scan.ts).
 */
export function createAnthropicClient(init: NativeClientInit): OpenAI {
  let loaded: Promise<Anthropic> | undefined;
  const sdk = (): Promise<Anthropic> =>
    (loaded ??= import('@anthropic-ai/sdk').then(
      ({ default: Sdk }) =>
        new Sdk({
          apiKey: init.apiKey,
          authToken: null,
          baseURL: init.baseURL,
          ...(init.maxRetries === undefined ? {} : { maxRetries: init.maxRetries }),
          ...(init.timeout === undefined ? {} : { timeout: init.timeout }),
          ...(init.fetch === undefined ? {} : { fetch: init.fetch }),
        }),
    ));
  const defaultMaxTokens = init.profile.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;
  /** The chunk tag of each batch this adapter created or verified: its results must carry that tag, no other. */
  const tags = new Map<string, string>();
  const adapter = {
    batchMetadata: false as const,
    /**
     * True when every result of an ended batch carries the tag of the chunk whose sha256 is given (its custom_ids
     * were sent as `<tag>_…`): proof that the batch answers that chunk, where other providers have metadata.
     */
    batchInputMatches: async (batchId: string, sha256: string, options?: Options): Promise<boolean> => {
      const client = await sdk();
      const decoder = await mapErrors(() => client.messages.batches.results(batchId, {}, call(options)));
      const tag = chunkTag(sha256);
      let any = false;
      for await (const line of decoder as AsyncIterable<{ custom_id: string }>) {
        if (tagOf(line.custom_id) !== tag) return false;
        any = true;
      }
      if (any) tags.set(batchId, tag);
      return any;
    },
    uploadBatchInput: (path: string, options: UploadFileOptions) => stageChunk(path, { expectedSha256: options.expectedSha256, defaultMaxTokens, filename: options.filename, jobDir: options.jobDir }),
    resolveInputFileId: resolveStagedId,
    chat: {
      completions: {
        /** POST /v1/messages; with `stream: true` (kbatch chat) the one answer comes back as chunks of the stream shape. */
        create: async (body: Record<string, unknown>, options?: Options) => {
          const { stream, stream_options: _, ...rest } = body;
          const params = toMessagesParams(rest, defaultMaxTokens);
          const client = await sdk();
          const message = await mapErrors(() => client.messages.create(params as never, call(options)));
          const completion = toChatCompletion(message as unknown as AnthropicMessage);
          return stream === true ? asChunks(completion) : completion;
        },
      },
    },
    batches: batchesOf(sdk, { defaultMaxTokens, tags }),
    files: filesOf(sdk, tags),
  };
  return adapter as unknown as OpenAI;
}

/** A completion as the chunks of a stream: its whole text in one delta, then its finish_reason. */
async function* asChunks(completion: ReturnType<typeof toChatCompletion>) {
  const { choices, usage, ...base } = completion;
  const choice = choices[0]!;
  yield { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: choice.message.content }, logprobs: null, finish_reason: null }] };
  yield { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: choice.finish_reason }], usage };
}

function batchesOf(sdk: () => Promise<Anthropic>, { defaultMaxTokens, tags }: { defaultMaxTokens: number; tags: Map<string, string> }) {
  const view = (batch: unknown, inputFileId?: string) => toOpenAIBatch(batch as AnthropicBatch, inputFileId ?? null);
  return {
    /**
     * Sends the staged chunk inline, streamed line by line and checked against its sha256 as it goes; never retried
     * by the SDK (a lost answer may mean a batch).
     * @throws KbatchError JOB_MISMATCH when the chunk changed since it was staged (the body is cut before its end)
     */
    async create(params: { input_file_id: string }, options?: Options) {
      const chunk = stagedChunk(params.input_file_id);
      if (chunk === null) throw new KbatchError('OPTION_INVALID', `Invalid option \`input_file_id\`: provider anthropic takes a staged chunk (local-chunk:…), got ${params.input_file_id}`, { fileId: params.input_file_id });
      const client = await sdk();
      let refused: unknown;
      async function* body() {
        try {
          yield* createBody(chunk!.path, { defaultMaxTokens, tag: chunk!.tag, sha256: chunk!.sha256 });
        } catch (error) {
          refused = error;
          throw error;
        }
      }
      let batch: unknown;
      try {
        batch = await mapErrors(() => client.post('/v1/messages/batches', { body: body(), headers: { 'content-type': 'application/json' }, ...call(options), maxRetries: 0 }));
      } catch (error) {
        // The body's own failure (a changed chunk, a bad line), not the connection error fetch makes of it.
        throw refused ?? error;
      }
      tags.set((batch as AnthropicBatch).id, chunk.tag);
      return view(batch, params.input_file_id);
    },
    async retrieve(id: string, options?: Options) {
      const client = await sdk();
      return view(await mapErrors(() => client.messages.batches.retrieve(id, {}, call(options))));
    },
    async cancel(id: string, options?: Options) {
      const client = await sdk();
      return view(await mapErrors(() => client.messages.batches.cancel(id, {}, call(options))));
    },
    /** One page, newest first, paged like OpenAI's (`after` = the last id → Anthropic's `after_id`). */
    async list(query: { limit?: number; after?: string } = {}, options?: Options) {
      const client = await sdk();
      const page = await mapErrors(() => client.messages.batches.list({ ...(query.limit ? { limit: query.limit } : {}), ...(query.after ? { after_id: query.after } : {}) }, call(options)));
      return { object: 'list', data: page.data.map((b) => view(b)), has_more: page.has_more, first_id: page.first_id, last_id: page.last_id };
    },
  };
}

function filesOf(sdk: () => Promise<Anthropic>, tags: ReadonlyMap<string, string>) {
  return {
    /**
     * A results "file": `…:output` streams the succeeded lines, `…:errors` the others, each converted line by line
     * to an OpenAI batch result line (the SDK decodes the JSONL one line at a time). Every custom_id must carry the
     * batch's chunk tag (known once this adapter created or verified it, else the first line's): a foreign one is
     * never decoded into kbatch's ids.
     * @throws KbatchError JOB_MISMATCH on a line without that tag
     */
    async content(id: string, options?: Options): Promise<Response> {
      const target = parseResultsFileId(id);
      if (!target) throw APIError.generate(404, { error: { message: `No such file: ${id}`, type: 'not_found_error' } }, `No such file: ${id}`, new Headers());
      const client = await sdk();
      const decoder = await mapErrors(() => client.messages.batches.results(target.batchId, {}, call(options)));
      const created = Math.floor(Date.now() / 1000);
      let tag = tags.get(target.batchId);
      async function* lines(): AsyncGenerator<Uint8Array> {
        try {
          for await (const line of decoder as AsyncIterable<AnthropicResultLine>) {
            const own = tagOf(line.custom_id);
            if (own === null || own !== (tag ??= own)) {
              throw new KbatchError('JOB_MISMATCH', `batch ${target!.batchId} holds a result for custom_id ${JSON.stringify(line.custom_id)}, which does not carry its chunk's tag ${tag ?? '(none)'}: the batch does not answer this chunk, and kbatch reads none of its results`, { batchId: target!.batchId });
            }
            if ((line.result.type === 'succeeded') !== (target!.kind === 'output')) continue;
            yield Buffer.from(`${JSON.stringify(toOpenAIResultLine(line, created))}\n`, 'utf8');
          }
        } catch (error) {
          throw toOpenAIError(error);
        }
      }
      return new Response(ReadableStream.from(lines()) as unknown as ConstructorParameters<typeof Response>[0]);
    },
    /** A staged chunk was never uploaded and a results file is the batch's own: nothing to delete on the server. */
    async delete(id: string) {
      return { id, object: 'file', deleted: true };
    },
  };
}
