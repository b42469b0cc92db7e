import { z } from 'zod';
import { booleanField, positiveIntField } from '../options.js';
import { parseSize } from './size.js';
import { PROVIDER_PROFILES } from '../providers/profiles.js';
import type { ProviderProfile } from '../providers/provider-profile.js';
import { DEFAULT_PROVIDER, getProvider, ProviderNameSchema } from '../providers/resolve-provider.js';

// The default provider's profile (kluster, the first row of the table) sets the library's chunk defaults.
const DEFAULT_LIMITS = PROVIDER_PROFILES[0]!.limits;
/** kluster's per-file request limit: 50,000. */
export const DEFAULT_MAX_REQUESTS: number = DEFAULT_LIMITS.maxRequests!;
/** kluster's per-file size limit, "6GB", read as 6,000,000,000 bytes (the smaller, safe reading; 6 GiB would be 6,442,450,944). */
export const DEFAULT_MAX_BYTES: number = DEFAULT_LIMITS.maxBytes!;

/**
 * The chunk limits a provider's batches take by default: its documented figures, else kbatch's defaults
 * (a limit the provider does not document; its note says so), and its token budget where it documents one (else
 * none). Flags and options still override them.
 * @example chunkLimits(getProvider('openai')) // { maxRequests: 50000, maxBytes: 200000000 }
 */
export function chunkLimits(profile: ProviderProfile): { maxRequests: number; maxBytes: number; maxBatchTokens?: number } {
  const { maxRequests, maxBytes, maxBatchTokens } = profile.limits;
  return { maxRequests: maxRequests ?? DEFAULT_MAX_REQUESTS, maxBytes: maxBytes ?? DEFAULT_MAX_BYTES, ...(maxBatchTokens === null ? {} : { maxBatchTokens }) };
}

/** Most requests per chunk file. */
export const MaxRequestsSchema = positiveIntField();

/**
 * Most estimated prompt tokens per chunk file (a provider's enqueued-token budget per batch): a chunk is cut before
 * the next request would pass it. Estimated as characters / 4 + 4 per message, so leave a margin.
 */
export const MaxBatchTokensSchema = positiveIntField();

/** Most bytes per chunk file: a number of bytes or a size such as "6GB" or "512MiB", parsed into bytes. */
export const MaxBytesSchema = z
  .union([z.number(), z.string()], { error: 'must be a number of bytes or a size like 6GB or 512MiB' })
  .transform((value, ctx) => {
    try {
      return parseSize(value, 'maxBytes');
    } catch {
      // parseSize's wording (runJob's maxBytes always gave it), with the examples chunkWriter's gave.
      ctx.addIssue({ code: 'custom', message: 'must be a positive whole number of bytes, optionally with a unit (KB, MB, GB, KiB, MiB, GiB), like 6GB or 512MiB' });
      return z.NEVER;
    }
  });

/** Options of `chunkWriter` (and the output half of `splitRequests`), parsed once at construction. */
export const ChunkWriterOptionsSchema = z
  .object({
    /** Directory for the chunk files (created if missing). */
    outDir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must be a directory path' }),
    /** Whose batch limits are the defaults of `maxRequests` and `maxBytes` (default kluster: 50,000 and 6GB). */
    provider: ProviderNameSchema.optional(),
    /** Most requests per file (default: the provider's limit). */
    maxRequests: MaxRequestsSchema.optional(),
    /** Most bytes per file (UTF-8, newlines included): a number of bytes or a size such as "6GB" or "512MiB" (default: the provider's limit). */
    maxBytes: MaxBytesSchema.optional(),
    /** Most estimated prompt tokens per file (default: the provider's documented budget, else none; see {@link MaxBatchTokensSchema}). */
    maxBatchTokens: MaxBatchTokensSchema.optional(),
    /** File name prefix: `<prefix>-00001.jsonl`. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'must be letters, digits, ".", "_" or "-"' })
      .default('part'),
    /** Replace chunk files a previous run left in `outDir` (otherwise that is an error). */
    overwrite: booleanField().default(false),
    /** Count each chunk's estimated prompt tokens (`ChunkInfo.tokens`) even without a `maxBatchTokens` budget (the shared quota reads them). */
    countTokens: booleanField().default(false),
  })
  .strict()
  .transform(({ provider, ...opts }) => {
    const limits = chunkLimits(getProvider(provider ?? DEFAULT_PROVIDER));
    const maxBatchTokens = opts.maxBatchTokens ?? limits.maxBatchTokens;
    return { ...opts, maxRequests: opts.maxRequests ?? limits.maxRequests, maxBytes: opts.maxBytes ?? limits.maxBytes, maxBatchTokens };
  });

/** Chunk options as given (`maxBytes` may be a size string such as "6GB"). */
export type ChunkWriterOptions = z.input<typeof ChunkWriterOptionsSchema>;
/** Chunk options after defaults (`maxBytes` in bytes). */
export type ResolvedChunkWriterOptions = z.output<typeof ChunkWriterOptionsSchema>;

/** One finished chunk file, reported only once it is complete on disk. */
export interface ChunkInfo {
  /** Path of the file (outDir joined with its name). */
  path: string;
  /** 1-based chunk number. */
  index: number;
  requests: number;
  /** Exact size in bytes (UTF-8, newlines included). */
  bytes: number;
  firstCustomId?: string;
  lastCustomId?: string;
  /** Estimated prompt tokens of its requests (only under a `maxBatchTokens` budget, or with `countTokens`). */
  tokens?: number;
}
