import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/spawn.js';

const line = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'é' }] } });
const LINES = ['a', 'b', 'c'].map(line).join('\n') + '\n';

describe('kbatch split', () => {
  it('splits stdin into chunk files, printing their paths on stdout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const { code, stdout, stderr } = await runCli(['split', '-', '--out-dir', 'chunks', '--max-requests', '2'], { stdin: LINES, cwd: dir });
    expect(code).toBe(0);
    expect(stdout).toBe(`${join(dir, 'chunks', 'part-00001.jsonl')}\n${join(dir, 'chunks', 'part-00002.jsonl')}\n`);
    expect(stderr).toBe(`split: 3 requests, ${Buffer.byteLength(LINES)} bytes → 2 chunk files in chunks\n`);
    expect(await readFile(join(dir, 'chunks', 'part-00002.jsonl'), 'utf8')).toBe(`${line('c')}\n`);
  });

  it('rotates at --max-bytes exactly (sizes with units) and prints JSON with --json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const size = Buffer.byteLength(line('a')) + 1;
    const { code, stdout } = await runCli(['split', '-', '-o', dir, '--max-bytes', `${2 * size}B`, '--json'], { stdin: LINES });
    expect(code).toBe(0);
    const chunks = stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(chunks.map((c) => [c.requests, c.bytes, c.firstCustomId])).toEqual([
      [2, 2 * size, 'a'],
      [1, size, 'c'],
    ]);
  });

  it('fails with LINE_TOO_LARGE naming the custom_id when one request exceeds --max-bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const { code, stderr } = await runCli(['split', '-', '-o', dir, '--max-bytes', '10'], { stdin: LINES });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error \[LINE_TOO_LARGE\]: request "a" is \d+ bytes, more than the 10-byte file limit/);
    expect(await readdir(dir)).toEqual([]);
  });

  // Each line's one message is "é": an estimated ceil(1 / 4) + 4 = 5 prompt tokens.
  it('cuts chunks by --max-batch-tokens (estimated prompt tokens), refusing a request above it with LINE_OVER_TOKEN_BUDGET', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const { code, stdout } = await runCli(['split', '-', '-o', dir, '--max-batch-tokens', '10', '--json'], { stdin: LINES });
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n').map((l) => JSON.parse(l)).map((c) => [c.requests, c.tokens, c.firstCustomId])).toEqual([
      [2, 10, 'a'],
      [1, 5, 'c'],
    ]);
    const over = await runCli(['split', '-', '-o', join(dir, 'over'), '--max-batch-tokens', '4'], { stdin: LINES });
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/^error \[LINE_OVER_TOKEN_BUDGET\]: request "a" is an estimated 5 prompt tokens, more than the batch token budget/);
    const bad = await runCli(['split', '-', '-o', dir, '--max-batch-tokens', 'lots'], { stdin: LINES });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid option `--max-batch-tokens`: must be a positive integer, got "lots"');
  });

  it('rejects bad options and bad lines', async () => {
    const bytes = await runCli(['split', '-', '-o', '/tmp/x', '--max-bytes', '6 parsecs'], { stdin: LINES });
    expect(bytes.code).toBe(2);
    expect(bytes.stderr).toContain('error [OPTION_INVALID]: Invalid option `--max-bytes`');
    const requests = await runCli(['split', '-', '-o', '/tmp/x', '--max-requests', '0'], { stdin: LINES });
    expect(requests.stderr).toContain('Invalid option `--max-requests`: must be a positive integer, got 0');
    const noDir = await runCli(['split', '-'], { stdin: LINES });
    expect(noDir.stderr).toContain('Invalid option `--out-dir`');
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const invalid = await runCli(['split', '-', '-o', dir], { stdin: `${line('a')}\n[1,2]\n` });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('error [LINE_INVALID]: -:2: not a JSON object');
  });

  it('composes with prepare through a pipe', async () => {
    const prepared = await runCli(['prepare', '-', '--format', 'csv', '--model', 'm', '--prompt', '{{t}}'], { stdin: 't\nx\ny\n' });
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const split = await runCli(['split', '-', '-o', dir], { stdin: prepared.stdout });
    expect(split.code).toBe(0);
    expect(await readFile(join(dir, 'part-00001.jsonl'), 'utf8')).toBe(prepared.stdout);
  });

  it('has --help with an example and the size units', async () => {
    const { stdout } = await runCli(['split', '--help']);
    expect(stdout).toContain('Examples:');
    expect(stdout).toContain('KiB');
  });
});
