import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvalResult, ReportData } from '@kbatch/core';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/spawn.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABELS = 'positive,negative,neutral';

// The figures embedded in a report page.
function reportData(html: string): ReportData {
  const json = /<script type="application\/json" id="kbatch-report-data">([^<]*)<\/script>/.exec(html)?.[1];
  expect(json, 'the page embeds its data').toBeDefined();
  return (JSON.parse(json!) as { report: ReportData }).report;
}

describe('kbatch report', () => {
  it('writes report.html of a job directory whose figures are kbatch eval --json\'s', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cli-report-'));
    const model = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
    const run = await runCli(['run', REVIEWS, '--local', '--model', model, '--prompt', 'Review: {{text}}', '--labels', LABELS, '--logprobs', '--output', 'out.jsonl', '--job-dir', 'job'], { cwd });
    expect(run.code, run.stderr).toBe(0);
    const report = await runCli(['report', 'job', '--gold', 'sentiment'], { cwd });
    expect(report.code, report.stderr).toBe(0);
    expect(report.stderr).toMatch(/^report: .*report\.html \(\d+ KB, 30 rows\)\n$/);
    const evaluated = await runCli(['eval', 'out.jsonl', '--gold', 'sentiment', '--labels', LABELS, '--json'], { cwd });
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const data = reportData(await readFile(join(cwd, 'report.html'), 'utf8'));
    expect(data.models[0]!.eval).toEqual(JSON.parse(evaluated.stdout) as EvalResult);
    expect(data.timeline).toHaveLength(1);
  });

  it('writes the page to stdout with --out -', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cli-report-'));
    const run = await runCli(['report', '-', '--format', 'jsonl', '--out', '-'], { cwd, stdin: '{"label":"a"}\n{"label":"b"}\n' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.startsWith('<!doctype html>')).toBe(true);
    expect(reportData(run.stdout).models[0]!.predicted).toEqual({ a: 1, b: 1 });
    expect(run.stderr).toBe('');
  });

  it('exits 2 with OPTION_INVALID naming --out when the page would replace the rows it reads', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cli-report-'));
    const labeled = '{"sentiment":"positive","label":"positive"}\n{"sentiment":"negative","label":"neutral"}\n';
    await writeFile(join(cwd, 'victim.jsonl'), labeled);
    const run = await runCli(['report', 'victim.jsonl', '--gold', 'sentiment', '--out', 'victim.jsonl'], { cwd });
    // Bad usage: exit 2, as every OPTION_INVALID.
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error \[OPTION_INVALID\]: .*`--out`.*victim\.jsonl/);
    expect(await readFile(join(cwd, 'victim.jsonl'), 'utf8')).toBe(labeled);
  });

  it('exits 1 with EVAL_COLUMN_MISSING when the rows lack the --gold column', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'kbatch-cli-report-'));
    const run = await runCli(['report', '-', '--format', 'jsonl', '--gold', 'truth', '--out', 'r.html'], { cwd, stdin: '{"label":"a"}\n' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[EVAL_COLUMN_MISSING\]: .*"truth" \(--gold\)/);
  });
});
