import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createBatch, OutputExpiresAfterSchema, retrieveBatch } from '../../src/batch/create-batch.js';
import { uploadFile } from '../../src/client/upload-file.js';
import { parseOptions } from '../../src/options.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';
import { emulatorClient, writeChunks } from '../job/fixtures.js';

const later = <T>(fn: () => Promise<T>) => new Promise((resolve) => setTimeout(resolve, 20)).then(fn);

describe('OutputExpiresAfterSchema', () => {
  it('reads seconds, or a duration in s, m, h or d, as seconds', () => {
    const parse = (value: unknown) => OutputExpiresAfterSchema.parse(value);
    expect([parse(3_600), parse('3600s'), parse('90m'), parse('12h'), parse(' 30d ')]).toEqual([3_600, 3_600, 5_400, 43_200, 2_592_000]);
  });

  it.each([0, -5, 1.5, '1.5h', '1w', 'soon', ''])('refuses %j with OPTION_INVALID naming the option', async (value) => {
    const err = await catchError(() => parseOptions(OutputExpiresAfterSchema, value, 'x'));
    expectKbatchError(err, { code: 'OPTION_INVALID', message: 'must be a whole number of seconds or a duration such as 3600s, 12h or 30d' });
  });
});

describe('createBatch', () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, seed: 1, validationMs: 10, lineMs: 0, finalizingMs: 10 });
  });
  afterAll(async () => {
    await emu.close();
  });

  // Upload one chunk, create its batch with these params, and poll until it completes.
  async function completedBatch(params: { outputExpiresAfter?: number }) {
    const client = emulatorClient(emu.baseURL);
    const { dir } = await writeChunks(1, 2);
    const file = await uploadFile(client, join(dir, 'part-00001.jsonl'), { purpose: 'batch' });
    const created = await createBatch(client.batches, { inputFileId: file.id, window: '24h', ...params });
    let batch = created;
    while (batch.status !== 'completed') batch = await later(() => retrieveBatch(client.batches, created.id));
    return { output: (await client.files.retrieve(batch.output_file_id!)) as unknown as { created_at: string; expires_at?: number } };
  }

  it("sends output_expires_after, which sets the output file's expiry from its creation", async () => {
    const { output } = await completedBatch({ outputExpiresAfter: 7_200 });
    expect(output.expires_at! - Number(output.created_at)).toBe(7_200);
  });

  it('sends no output_expires_after when none is given (the output file keeps the server default)', async () => {
    const { output } = await completedBatch({});
    expect(output).not.toHaveProperty('expires_at');
  });
});
