import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appendInstruction, createAnswerParser } from '../../src/answers/answer-parser.js';
import { createKlusterClient, runJob } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

// Options are checked before any request: the client points at a closed port.
const unsent = () => createKlusterClient({ env: { KLUSTER_API_KEY: 'k', KLUSTER_BASE_URL: 'http://127.0.0.1:9/v1' } });

describe('createAnswerParser', () => {
  it('interprets free text as is', () => {
    const p = createAnswerParser();
    expect(p).toMatchObject({ kind: 'text', instruction: null, fields: [] });
    expect(p.parse('anything')).toEqual({ values: {}, error: null });
  });

  it('parses labels, returning the error instead of throwing', () => {
    const p = createAnswerParser({ labels: ['yes', 'no'], confidence: true });
    expect(p.instruction).toBe('Answer with exactly one of these labels: yes, no');
    expect(p.fields).toEqual(['label', 'confidence']);
    expect(p.parse('No.', [{ token: 'No', logprob: 0 }])).toEqual({ values: { label: 'no', confidence: 1 }, error: null });
    const bad = p.parse('perhaps');
    expect(bad.values).toEqual({ label: null, confidence: null });
    expectKbatchError(bad.error, { code: 'ANSWER_INVALID' });
  });

  it('puts a non-object schema answer in `answer`', () => {
    const p = createAnswerParser({ schema: z.array(z.string()) });
    expect(p.fields).toEqual(['answer']);
    expect(p.parse('["a","b"]').values).toEqual({ answer: ['a', 'b'] });
  });

  it('says labels must be a list of labels, for the parser and for runJob', async () => {
    for (const labels of ['yes', ['a', 1]]) {
      const message = 'must be a list of labels';
      expectKbatchError(await catchError(() => createAnswerParser({ labels } as never)), { code: 'OPTION_INVALID', message });
      const run = catchError(() => runJob({ client: unsent(), input: [{ text: 'a' }], model: 'm', prompt: '{{text}}', labels, jobDir: '/nonexistent/kbatch-job' } as never));
      expectKbatchError(await run, { code: 'OPTION_INVALID', message: `Invalid option \`labels${typeof labels === 'string' ? '' : '.1'}\`: ${message}` });
    }
  });

  it('rejects labels together with a schema with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => createAnswerParser({ labels: ['a'], schema: { type: 'object' } })), { code: 'OPTION_INVALID' });
  });
});

describe('appendInstruction', () => {
  it('adds the instruction after a blank line', () => {
    expect(appendInstruction('Review: great\n', 'Answer with exactly one of these labels: a, b')).toBe(
      'Review: great\n\nAnswer with exactly one of these labels: a, b',
    );
    expect(appendInstruction('Review', null)).toBe('Review');
  });
});
