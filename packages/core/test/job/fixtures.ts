import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

/** The emulator's cheapest model. */
export const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

/** A request line as the chunker writes it. */
export function requestLine(customId: string, text = `say ${customId}`): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: text }] },
  });
}

/** Write `chunks` chunk files of `perChunk` requests (ids r1…rN) into a fresh temp dir; returns the dir and ids. */
export async function writeChunks(chunks: number, perChunk: number): Promise<{ dir: string; ids: string[]; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-job-'));
  const dir = join(root, 'chunks');
  await mkdir(dir, { recursive: true });
  const ids: string[] = [];
  for (let c = 1; c <= chunks; c++) {
    const lines: string[] = [];
    for (let i = 1; i <= perChunk; i++) {
      const id = `r${(c - 1) * perChunk + i}`;
      ids.push(id);
      lines.push(requestLine(id));
    }
    await writeFile(join(dir, `part-${String(c).padStart(5, '0')}.jsonl`), `${lines.join('\n')}\n`);
  }
  return { dir, ids, root };
}

/** An openai client for the emulator with patient retries. */
export function emulatorClient(baseURL: string, maxRetries = 6): OpenAI {
  return new OpenAI({ apiKey: 'test-key', baseURL, maxRetries, timeout: 10_000 });
}
