import { describe, expect, it } from 'vitest';
import { setup } from '../helpers/emulator.js';

describe('models', () => {
  it('lists the reference models and retrieves one by id', async () => {
    const { emu, client } = await setup();
    try {
      const ids = (await client.models.list()).data.map((m) => m.id);
      expect(ids).toEqual(['klusterai/Meta-Llama-3.1-405B-Instruct-Turbo', 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo', 'deepseek-ai/DeepSeek-R1']);
      expect(await client.models.retrieve('deepseek-ai/DeepSeek-R1')).toMatchObject({ object: 'model', owned_by: 'klusterai', created: 1737385699 });
      await expect(client.models.retrieve('nope')).rejects.toMatchObject({ status: 404 });
    } finally {
      await emu.close();
    }
  });
});
