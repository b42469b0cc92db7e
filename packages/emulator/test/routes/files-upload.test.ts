import { describe, expect, it } from 'vitest';
import { stat } from 'node:fs/promises';
import { generatedJsonl, streamUpload } from '../helpers/multipart.js';
import { setup } from '../helpers/emulator.js';

const SIZE = 200 * 1024 * 1024;

describe('large uploads', () => {
  it('streams a 200 MB multipart upload to disk without growing RSS (≤ 50 MB)', async () => {
    const { emu, client } = await setup();
    try {
      // Warm up first (JIT, sockets, stream machinery), so the measurement sees what grows with the upload.
      expect((await streamUpload(emu.baseURL, generatedJsonl(16 * 1024 * 1024), 16 * 1024 * 1024)).status).toBe(200);
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const res = await streamUpload(emu.baseURL, generatedJsonl(SIZE), SIZE);
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ object: 'file', bytes: SIZE, filename: 'big.jsonl', purpose: 'batch' });
      expect((await client.files.retrieve(res.json.id)).bytes).toBe(SIZE);
      expect((await stat(`${emu.dataDir}/files/${res.json.id}.data`)).size).toBe(SIZE);
      // Client and server share this process; both stream, so the whole process stays flat.
      if (process.env.EMU_DEBUG) console.log(`rss growth ${((peak - baseline) / 1048576).toFixed(1)} MB`);
      expect(peak - baseline).toBeLessThan(50 * 1024 * 1024);
    } finally {
      await emu.close();
    }
  }, 60_000);
});
