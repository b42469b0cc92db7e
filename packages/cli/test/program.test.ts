import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/spawn.js';

describe('kbatch (the program)', () => {
  it.each([
    ['a bad choice in a subcommand', ['prepare', 'x.csv', '--format', 'xml', '--model', 'm', '--prompt', 'p'], /argument 'xml' is invalid/],
    ['an unknown option of a nested subcommand', ['batches', 'list', '--bogus'], /unknown option '--bogus'/],
    ['an unknown command', ['nosuch'], /unknown command 'nosuch'/],
  ])('exits 2 on usage errors: %s', async (_name, args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });

  it('prints help and the version on stdout with exit 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: kbatch');
    const version = await runCli(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});
