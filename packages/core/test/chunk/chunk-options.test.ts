import { describe, expect, it } from 'vitest';
import { chunkLimits, chunkWriter, createKlusterClient, getProvider, runJob } from '../../src/index.js';
import { ChunkWriterOptionsSchema } from '../../src/chunk/chunk-options.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const SIZE_RULE = 'must be a positive whole number of bytes, optionally with a unit (KB, MB, GB, KiB, MiB, GiB)';

// Options are checked before any request: the client points at a closed port.
const unsent = () => createKlusterClient({ env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' } });

describe('MaxBytesSchema', () => {
  it.each([0, '0', -1, '6 parsecs'])('refuses maxBytes %j with the size rule, in runJob as in chunkWriter', async (maxBytes) => {
    const message = `Invalid option \`maxBytes\`: ${SIZE_RULE}`;
    expectKbatchError(await catchError(() => chunkWriter({ outDir: '/tmp', maxBytes })), { code: 'OPTION_INVALID', field: 'maxBytes', message });
    const run = catchError(() => runJob({ client: unsent(), input: [{ text: 'a' }], model: 'm', prompt: '{{text}}', maxBytes, jobDir: '/nonexistent/kbatch-job' }));
    expectKbatchError(await run, { code: 'OPTION_INVALID', field: 'maxBytes', message });
  });
});

describe('chunkLimits', () => {
  it("uses the provider's documented limits, and kbatch's defaults where it documents none", () => {
    expect(chunkLimits(getProvider('openai'))).toEqual({ maxRequests: 50_000, maxBytes: 200_000_000 });
    expect(chunkLimits(getProvider('groq'))).toEqual({ maxRequests: 50_000, maxBytes: 100_000_000 });
    expect(chunkLimits(getProvider('openai-compatible'))).toEqual({ maxRequests: 50_000, maxBytes: 6_000_000_000 });
  });

  it('gives the token budget a profile documents, and none where it documents none', () => {
    const profile = getProvider('openai');
    expect(chunkLimits({ ...profile, limits: { ...profile.limits, maxBatchTokens: 90_000 } })).toEqual({ maxRequests: 50_000, maxBytes: 200_000_000, maxBatchTokens: 90_000 });
  });
});

describe('MaxBatchTokensSchema', () => {
  it.each([0, -1, 1.5, '100'])('refuses maxBatchTokens %j as not a positive integer, in runJob as in chunkWriter', async (maxBatchTokens) => {
    const message = `Invalid option \`maxBatchTokens\`: must be a positive integer, got ${JSON.stringify(maxBatchTokens)}`;
    expectKbatchError(await catchError(() => chunkWriter({ outDir: '/tmp', maxBatchTokens: maxBatchTokens as number })), { code: 'OPTION_INVALID', field: 'maxBatchTokens', message });
    const run = catchError(() => runJob({ client: unsent(), input: [{ text: 'a' }], model: 'm', prompt: '{{text}}', maxBatchTokens: maxBatchTokens as number, jobDir: '/nonexistent/kbatch-job' }));
    expectKbatchError(await run, { code: 'OPTION_INVALID', field: 'maxBatchTokens', message });
  });
});

describe('ChunkWriterOptionsSchema', () => {
  it("takes the provider's limits as defaults, under the limits given", () => {
    expect(ChunkWriterOptionsSchema.parse({ outDir: 'o' })).toMatchObject({ maxRequests: 50_000, maxBytes: 6_000_000_000 });
    expect(ChunkWriterOptionsSchema.parse({ outDir: 'o', provider: 'openai' })).toMatchObject({ maxRequests: 50_000, maxBytes: 200_000_000 });
    expect(ChunkWriterOptionsSchema.parse({ outDir: 'o', provider: 'kluster-2025', maxRequests: 5_000 })).toMatchObject({ maxRequests: 5_000, maxBytes: 100_000_000 });
  });

  it('refuses an unknown provider with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => chunkWriter({ outDir: '/tmp', provider: 'nope' })), { code: 'OPTION_INVALID', field: 'provider' });
  });
});
