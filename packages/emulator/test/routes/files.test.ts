import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { toFile } from 'openai';
import { setup, uploadJsonl } from '../helpers/emulator.js';
import type { Emulator } from '../../src/index.js';

describe('files', () => {
  let emu: Emulator;
  let client: OpenAI;
  beforeAll(async () => ({ emu, client } = await setup()));
  afterAll(() => emu.close());

  it('uploads a file and returns the reference File object', async () => {
    const file = await uploadJsonl(client, [{ a: 1 }, { b: 2 }]);
    expect(file).toMatchObject({ object: 'file', bytes: 16, filename: 'input.jsonl', purpose: 'batch' });
    expect(file.id).toMatch(/^file-/);
    expect(String(file.created_at)).toMatch(/^\d+$/);
  });

  it('retrieves, streams content, lists and deletes files', async () => {
    const file = await uploadJsonl(client, ['{"x":1}'], 'fine-tune');
    expect(await client.files.retrieve(file.id)).toMatchObject({ id: file.id, purpose: 'fine-tune' });
    expect(await (await client.files.content(file.id)).text()).toBe('{"x":1}\n');
    const ids = [];
    for await (const f of client.files.list()) ids.push(f.id);
    expect(ids).toContain(file.id);
    expect(await client.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('paginates file lists newest first with after/limit', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await uploadJsonl(client, [{ i }])).id);
    const page = await client.files.list({ limit: 2 });
    expect(page.data.map((f) => f.id)).toEqual([created[2], created[1]]);
    expect(page.has_more).toBe(true);
    const next = await client.files.list({ limit: 2, after: created[1]! });
    expect(next.data[0]!.id).toBe(created[0]);
  });

  it('rejects an unknown purpose with 400 and the OpenAI error format', async () => {
    const err = await client.files.create({ file: await toFile(Buffer.from('x'), 'a.jsonl'), purpose: 'assistants' }).catch((e) => e);
    expect(err).toMatchObject({ status: 400, error: { param: 'purpose', code: 'invalid_value', type: 'invalid_request_error' } });
  });

  it('answers 404 for an unknown file id', async () => {
    await expect(client.files.retrieve('file-nope')).rejects.toMatchObject({ status: 404, error: { type: 'not_found_error' } });
    await expect(client.files.content('file-nope')).rejects.toMatchObject({ status: 404 });
  });

  it('answers 404 for an unknown route', async () => {
    const res = await fetch(`${emu.baseURL}/nothing-here`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'unknown_url' } });
  });
});
