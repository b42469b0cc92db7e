import { readFile } from 'node:fs/promises';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/spawn.js';

const exampleData = (name: string) => fileURLToPath(new URL(`../../../examples/data/${name}`, import.meta.url));

const CSV = 'id,text\n1,"good, really"\n2,"line\nbreak"\n3,naïve 😀\n';
const base = ['--model', 'm', '--prompt', 'Review: {{text}}'];

describe('kbatch prepare', () => {
  it('turns CSV on stdin into request lines on stdout and a summary on stderr', async () => {
    const { code, stdout, stderr } = await runCli(['prepare', '-', '--format', 'csv', ...base, '--id-column', 'id'], { stdin: CSV });
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.custom_id, l.body.messages[0].content])).toEqual([
      ['1', 'Review: good, really'],
      ['2', 'Review: line\nbreak'],
      ['3', 'Review: naïve 😀'],
    ]);
    expect(lines[0].body).toEqual({ model: 'm', messages: [{ role: 'user', content: 'Review: good, really' }] });
    expect(stderr).toBe('prepare: 3 records read, 3 request lines written, 0 rejected\n');
  });

  it('maps every chat parameter flag onto the request body', async () => {
    const args = [
      'prepare', '-', '--format', 'csv', ...base, '--system', 'Be brief about {{id}}',
      '--temperature', '0', '--top-p', '0.5', '--max-completion-tokens', '5', '--frequency-penalty', '-1',
      '--presence-penalty', '1.5', '--seed', '42', '--stop', 'END', '--stop', 'STOP', '--logprobs', '--top-logprobs', '3',
      '--logit-bias', '1234:-100', '--logit-bias', '99:5,7:0',
    ];
    const { code, stdout, stderr } = await runCli(args, { stdin: 'id,text\n1,a\n' });
    expect(stderr).toContain('1 request lines written');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).body).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief about 1' },
        { role: 'user', content: 'Review: a' },
      ],
      frequency_penalty: -1,
      presence_penalty: 1.5,
      logit_bias: { '1234': -100, '99': 5, '7': 0 },
      logprobs: true,
      top_logprobs: 3,
      max_completion_tokens: 5,
      seed: 42,
      stop: ['END', 'STOP'],
      temperature: 0,
      top_p: 0.5,
    });
  });

  it('reads a prompt from --template-file and the format from the file extension', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    await writeFile(join(dir, 'items.jsonl'), '{"item":{"name":"lamp"}}\n');
    await writeFile(join(dir, 'prompt.txt'), 'Describe {{item.name}} \\{{literally}}\n');
    const { code, stdout } = await runCli(['prepare', 'items.jsonl', '--model', 'm', '--template-file', 'prompt.txt'], { cwd: dir });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).body.messages[0].content).toBe('Describe lamp {{literally}}');
  });

  it.each([
    [['--temperature', '3'], 'error [OPTION_INVALID]: Invalid option `--temperature`: must be between 0 and 2, got 3'],
    [['--top-logprobs', '2'], 'Invalid option `--top-logprobs`: must be used together with logprobs'],
    [['--max-completion-tokens', 'many'], 'Invalid option `--max-completion-tokens`: must be a positive integer, got "many"'],
    [['--logit-bias', '5:-101'], 'Invalid option `--logit-bias 5`: must be between -100 and 100, got -101'],
    [['--stream'], 'Invalid option `--stream`: must not be set: batch requests cannot stream'],
  ])('rejects bad option %j with exit 2 (bad usage) and error [OPTION_INVALID]', async (flags, message) => {
    const { code, stdout, stderr } = await runCli(['prepare', '-', '--format', 'csv', ...base, ...flags], { stdin: 'id,text\n1,a\n' });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
  });

  it('fails with TEMPLATE_FIELD_MISSING naming the header line and the field, also with no rows', async () => {
    for (const stdin of [CSV, CSV.split('\n')[0]!]) {
      const { code, stderr } = await runCli(['prepare', '-', '--format', 'csv', '--model', 'm', '--prompt', '{{title}}'], { stdin });
      expect(code).toBe(1);
      expect(stderr).toMatch(/^error \[TEMPLATE_FIELD_MISSING\]: line 1: the header has no column "title" used by the template \(columns: /);
    }
  });

  it('reports invalid UTF-8 with INPUT_ENCODING and reads Latin-1 with --encoding latin1', async () => {
    const stdin = Buffer.from('id,text\n1,caf\xe9\n', 'latin1');
    const bad = await runCli(['prepare', '-', '--format', 'csv', '--model', 'm', '--prompt', '{{text}}'], { stdin });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^error \[INPUT_ENCODING\]: -:2: invalid UTF-8 in field "text" .*--encoding latin1/);
    const ok = await runCli(['prepare', '-', '--format', 'csv', '--model', 'm', '--prompt', '{{text}}', '--encoding', 'latin1'], { stdin });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).body.messages[0].content).toBe('café');
    const wrong = await runCli(['prepare', '-', '--format', 'csv', '--model', 'm', '--prompt', '{{text}}', '--encoding', 'cp1252'], { stdin });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('Allowed choices are utf8, latin1');
  });

  it('fails with CUSTOM_ID_DUPLICATE naming both rows', async () => {
    const { code, stderr } = await runCli(['prepare', '-', '--format', 'csv', ...base, '--id-column', 'id'], { stdin: 'id,text\n7,a\n8,b\n7,c\n' });
    expect(code).toBe(1);
    expect(stderr).toContain('error [CUSTOM_ID_DUPLICATE]: custom_id "7" is used by rows 1 and 3');
  });

  it('stops on a malformed row with the line number, or skips it to the rejects file with --on-invalid skip', async () => {
    const bad = 'id,text\n1,a\n2,"x"y\n3,c\n';
    const stop = await runCli(['prepare', '-', '--format', 'csv', ...base], { stdin: bad });
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain('error [RECORD_INVALID]: -:3: unexpected character "y" after a closing quote');

    const dir = await mkdtemp(join(tmpdir(), 'kbatch-cli-'));
    const skip = await runCli(['prepare', '-', '--format', 'csv', ...base, '--on-invalid', 'skip'], { stdin: bad, cwd: dir });
    expect(skip.code).toBe(0);
    expect(skip.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(skip.stderr).toBe('prepare: 3 records read, 2 request lines written, 1 rejected (see rejects.jsonl)\n');
    const rejected = JSON.parse(await readFile(join(dir, 'rejects.jsonl'), 'utf8'));
    expect(rejected).toMatchObject({ file: '-', line: 3, record: 2, code: 'RECORD_INVALID', raw: '2,"x"y' });
  });

  it('needs --model, a prompt and a known format', async () => {
    expect((await runCli(['prepare', '-', '--format', 'csv', '--prompt', 'x'])).stderr).toContain('error [OPTION_INVALID]: --model is required');
    expect((await runCli(['prepare', '-', '--format', 'csv', '--model', 'm'])).stderr).toContain('--prompt or --template-file');
    const unknown = await runCli(['prepare', '-', ...base]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error [INPUT_FORMAT_UNKNOWN]');
    expect((await runCli(['prepare', '/nonexistent.csv', ...base])).stderr).toContain('error [INPUT_NOT_FOUND]');
    const usage = await runCli(['prepare', '-', '--format', 'xml', ...base]);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toContain('Allowed choices are csv, tsv, jsonl, json');
  });

  it('prepares the shipped example data (reviews.csv, items.jsonl)', async () => {
    const reviews = await runCli(['prepare', exampleData('reviews.csv'), '--model', 'm', '--prompt', 'Sentiment of: {{text}}', '--id-column', 'id']);
    expect(reviews.code).toBe(0);
    const lines = reviews.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(30);
    expect(lines.some((l) => l.body.messages[0].content.includes('\n'))).toBe(true);
    expect(reviews.stderr).toBe('prepare: 30 records read, 30 request lines written, 0 rejected\n');
    const items = await runCli(['prepare', exampleData('items.jsonl'), '--model', 'm', '--prompt', '{{item.name}}: {{item.specs}}', '--id-column', 'sku']);
    expect(items.code).toBe(0);
    expect(JSON.parse(items.stdout.split('\n')[0]!).body.messages[0].content).toBe('Desk lamp: {"watts":9,"dimmable":true}');
  });

  it('has --help with an example', async () => {
    const { code, stdout } = await runCli(['prepare', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Examples:');
    expect(stdout).toContain('\\{{');
  });
});
