import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI entry (run `pnpm build` first). */
export const KBATCH_BIN = fileURLToPath(new URL('../../bin/kbatch.js', import.meta.url));

/** What a CLI run produced. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of `runCli`. */
export interface RunCliOptions {
  /** Written to the child's stdin, which is then closed (stdin is empty without it). */
  stdin?: string | Buffer;
  cwd?: string;
  /** Extra environment (added to PATH and HOME only: the parent's variables do not leak in). */
  env?: Record<string, string>;
  /** Kill the child after this many ms (default 20 s) so a hung command fails the test. */
  timeoutMs?: number;
}

/**
 * Run the built `kbatch` bin with pipes: feeds `stdin`, captures stdout/stderr and the exit code.
 * @example const { code, stdout } = await runCli(['prepare', '-', '--format', 'csv', ...], { stdin: 'id\n1\n' });
 */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KBATCH_BIN, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', KBATCH_CACHE_DIR: process.env['KBATCH_CACHE_DIR'] ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // the command may exit before reading all of stdin
    child.stdin.end(options.stdin ?? '');
  });
}
