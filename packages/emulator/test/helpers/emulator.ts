import OpenAI, { toFile } from 'openai';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/index.js';

/** A model the emulator knows. */
export const MODEL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';

/** Fast lifecycle defaults for tests. */
export const FAST: EmulatorOptions = { validationMs: 5, finalizingMs: 5, lineMs: 0, ftStepMs: 5, seed: 7 };

/** Start an emulator and an openai client on it (no SDK retries unless asked). */
export async function setup(options: EmulatorOptions = {}, clientOptions: { maxRetries?: number; apiKey?: string } = {}) {
  const emu = await startEmulator({ ...FAST, ...options });
  const client = new OpenAI({ baseURL: emu.baseURL, apiKey: clientOptions.apiKey ?? 'test-key', maxRetries: clientOptions.maxRetries ?? 0 });
  return { emu, client };
}

/** One batch request line. */
export function requestLine(customId: string, content: string, extra: Record<string, unknown> = {}) {
  return { custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content }], ...extra } };
}

/** Upload JSONL (objects or raw strings) with purpose batch. */
export async function uploadJsonl(client: OpenAI, lines: Array<unknown>, purpose: 'batch' | 'fine-tune' = 'batch') {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  return client.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose });
}

/** Create a batch over uploaded lines. */
export async function createBatch(client: OpenAI, lines: Array<unknown>, window: '1h' | '24h' = '24h') {
  const file = await uploadJsonl(client, lines);
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: window as '24h' });
}

const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** Poll until the batch reaches one of `statuses` (terminal ones by default). */
export async function waitForBatch(client: OpenAI, id: string, statuses: string[] = TERMINAL, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (statuses.includes(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${b.status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Download a file's JSONL lines as objects. */
export async function readJsonl(client: OpenAI, fileId: string): Promise<any[]> {
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/** Run fn with an emulator, closing it afterwards. */
export async function withEmulator<T>(options: EmulatorOptions, fn: (ctx: { emu: Emulator; client: OpenAI }) => Promise<T>, clientOptions = {}) {
  const ctx = await setup(options, clientOptions);
  try {
    return await fn(ctx);
  } finally {
    await ctx.emu.close();
  }
}
