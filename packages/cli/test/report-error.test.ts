import { describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import OpenAI from 'openai';
import { KbatchError } from '@kbatch/core';
import { reportError } from '../src/report-error.js';
import { ExitError, EXIT } from '../src/exit-error.js';

function capture(err: unknown): { code: number; stderr: string } {
  let stderr = '';
  const code = reportError(err, { write: (s: string) => (stderr += s) });
  return { code, stderr };
}

describe('reportError', () => {
  it('prints a KbatchError as error [CODE]: message and exits 1', () => {
    expect(capture(new KbatchError('JOB_LOCKED', 'job is locked'))).toEqual({ code: EXIT.error, stderr: 'error [JOB_LOCKED]: job is locked\n' });
  });

  it('prints an ABORTED error as its plain message (the resume hint) and exits 130, the only place an interrupt becomes an exit code', () => {
    expect(capture(new KbatchError('ABORTED', 'Interrupted; the job is saved. Continue it with: kbatch resume /j'))).toEqual({
      code: EXIT.interrupted,
      stderr: 'Interrupted; the job is saved. Continue it with: kbatch resume /j\n',
    });
  });

  it('keeps the exit code of an ExitError and prints nothing', () => {
    expect(capture(new ExitError(EXIT.partial))).toEqual({ code: 3, stderr: '' });
  });

  it('maps commander usage errors to exit 2 and help/version to 0', () => {
    expect(capture(new CommanderError(1, 'commander.unknownOption', 'x')).code).toBe(EXIT.usage);
    expect(capture(new CommanderError(0, 'commander.helpDisplayed', 'x')).code).toBe(EXIT.ok);
  });

  it('names HTTP errors of the openai client by status', () => {
    const err = OpenAI.APIError.generate(401, { error: { message: 'Incorrect API key' } }, undefined, new Headers());
    const { code, stderr } = capture(err);
    expect(code).toBe(EXIT.error);
    expect(stderr).toMatch(/^error \[HTTP_401\]: .*Incorrect API key/);
  });

  it('prints the server\'s message of an HTTP error, not the raw JSON body the SDK could not parse', () => {
    const body = '{"error":{"message":"Invalid API key","type":"authentication_error","code":"invalid_api_key"}}';
    const err = OpenAI.APIError.generate(401, undefined, body, new Headers());
    expect(capture(err).stderr).toBe('error [HTTP_401]: Invalid API key\n');
    const parsed = OpenAI.APIError.generate(401, { error: { message: 'Invalid API key' } }, undefined, new Headers());
    expect(capture(parsed).stderr).toBe('error [HTTP_401]: Invalid API key\n');
    const text = OpenAI.APIError.generate(502, undefined, 'Bad gateway', new Headers());
    expect(capture(text).stderr).toBe('error [HTTP_502]: Bad gateway\n');
  });

  it('exits 2 (bad usage) for an invalid option, which the CLI builds only from flags', () => {
    const err = new KbatchError('OPTION_INVALID', 'Invalid option `--concurrency`: must be at least 1, got 0', { field: '--concurrency' });
    expect(capture(err)).toEqual({ code: EXIT.usage, stderr: 'error [OPTION_INVALID]: Invalid option `--concurrency`: must be at least 1, got 0\n' });
  });

  it('names connection failures and points at the base URL', () => {
    const { stderr } = capture(new OpenAI.APIConnectionError({ message: 'Connection error.' }));
    expect(stderr).toMatch(/^error \[CONNECTION\]: Connection error\..*KLUSTER_BASE_URL/);
  });

  it('prints the stack and asks for a report on anything else', () => {
    const { code, stderr } = capture(new TypeError('boom'));
    expect(code).toBe(EXIT.error);
    expect(stderr).toContain('TypeError: boom');
    expect(stderr).toContain('internal error, please report');
  });
});

describe('reportError on a closed pipe', () => {
  it('exits 141 without a message when stdout reader went away (EPIPE)', () => {
    const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    expect(capture(err)).toEqual({ code: EXIT.brokenPipe, stderr: '' });
  });
});
