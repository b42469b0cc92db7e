import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createProgram, type CliIo } from '../../src/program.js';
import { reportError } from '../../src/report-error.js';

/** The kbatch bin (runs dist/main.js; build first). */
export const BIN = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));

/** Request lines for the emulator, ids r1…rN split into chunk files. */
export async function writeChunks(chunks: number, perChunk: number): Promise<{ root: string; dir: string; ids: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
  const dir = join(root, 'chunks');
  await mkdir(dir);
  const ids: string[] = [];
  for (let c = 1; c <= chunks; c++) {
    const lines = [];
    for (let i = 1; i <= perChunk; i++) {
      const id = `r${(c - 1) * perChunk + i}`;
      ids.push(id);
      lines.push(
        JSON.stringify({
          custom_id: id,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', messages: [{ role: 'user', content: `hi ${id}` }] },
        }),
      );
    }
    await writeFile(join(dir, `part-${String(c).padStart(5, '0')}.jsonl`), `${lines.join('\n')}\n`);
  }
  return { root, dir, ids };
}

/** Run the CLI in-process with captured stdout/stderr; returns the exit code main.ts would use (reportError's). */
export async function runCli(args: string[], { env = {}, cwd = process.cwd() }: { env?: Record<string, string>; cwd?: string } = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const io: CliIo = { stdin: new PassThrough(), stdout, stderr, env, cwd };
  let code = 0;
  let error: unknown;
  try {
    await createProgram(io).exitOverride().parseAsync(args, { from: 'user' });
  } catch (e) {
    error = e;
    code = reportError(e, { write: () => true });
  }
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out, stderr: err, error };
}

/** Run the real kbatch process; resolves with its exit code or signal. */
export function spawnCli(args: string[], env: Record<string, string>, cwd: string) {
  return spawnChild(args, env, cwd).done;
}

/** Start the real kbatch process (to signal it); `done` resolves with its exit code or signal. */
export function spawnChild(args: string[], env: Record<string, string>, cwd: string) {
  // Crash points fire only with the second, explicit switch (see core job/crash-point.ts).
  const hooks = env['KBATCH_TEST_CRASH_AT'] ? { KBATCH_TEST_HOOKS: '1' } : {};
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', KBATCH_CACHE_DIR: process.env['KBATCH_CACHE_DIR'] ?? '', ...hooks, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { process: child, done };
}
