import { existsSync } from 'node:fs';
import { link, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { evaluateFile, runJob, writeReport, type EvalResult, type ReportData, type RunJobOptions } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABELS = ['positive', 'negative', 'neutral'];
const SMALL = 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo';
const LARGE = 'klusterai/Meta-Llama-3.3-70B-Instruct-Turbo';
// Debian's chromium package (the real binary: /usr/bin/chromium is a wrapper script); .ci/run installs it.
const CHROMIUM = process.env['KBATCH_CHROMIUM'] ?? '/usr/lib/chromium/chromium';
const hasChromium = existsSync(CHROMIUM);
// CI sets KBATCH_REQUIRE_CHROMIUM=1 (.ci/run): there a missing browser fails the test (its launch) instead of skipping it.
const skipBrowser = !hasChromium && process.env['KBATCH_REQUIRE_CHROMIUM'] !== '1';
if (skipBrowser) console.warn(`writeReport browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set KBATCH_CHROMIUM)`);

/** The page's embedded data, as a reader's script would get it. */
function embedded(html: string): { report: ReportData; charts: Record<string, unknown> } {
  const json = /<script type="application\/json" id="kbatch-report-data">([^<]*)<\/script>/.exec(html)?.[1];
  expect(json).toBeDefined();
  return JSON.parse(json!) as { report: ReportData; charts: Record<string, unknown> };
}

describe('writeReport', () => {
  let emu: Emulator;
  let dir: string;
  let jobDir: string;
  let output: string;
  let evalJson: EvalResult;
  beforeAll(async () => {
    emu = await startEmulator({ timeScale: 0.001, validationMs: 5, lineMs: 0, finalizingMs: 5, seed: 7 });
    dir = await mkdtemp(join(tmpdir(), 'kbatch-report-'));
    jobDir = join(dir, 'job');
    output = join(dir, 'labeled.jsonl');
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    await runJob({ client, model: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo', input: REVIEWS, prompt: 'Review: {{text}}', labels: LABELS, logprobs: true, output, jobDir, pollIntervalMs: 20, cache: false });
    // What `kbatch eval labeled.jsonl --gold sentiment --labels … --json` prints.
    evalJson = await evaluateFile({ input: output, gold: 'sentiment', labels: LABELS });
  });
  afterAll(async () => {
    await emu.close();
  });

  it("gives eval --json's figures for a job directory, with its batches and spend", async () => {
    const out = join(dir, 'figures.html');
    const written = await writeReport(jobDir, { gold: 'sentiment', out });
    expect(written.out).toBe(out);
    const { report } = embedded(await readFile(out, 'utf8'));
    expect(report.models).toHaveLength(1);
    expect(report.models[0]!.eval).toEqual(evalJson);
    expect(report.rows).toBe(30);
    expect(report.timeline).toMatchObject([{ part: '00001', kind: 'chunk', status: 'completed', requests: 30, succeeded: 30, failed: 0 }]);
    expect(Date.parse(report.timeline![0]!.end)).toBeGreaterThanOrEqual(Date.parse(report.timeline![0]!.start));
    expect(report.spend?.models[0]?.batch.requests).toBe(30);
    expect(report.failures).toEqual([]);
  });

  it('reads the gold column from the job\'s eval.json when none is given', async () => {
    await writeFile(join(jobDir, 'eval.json'), JSON.stringify(evalJson));
    const written = await writeReport(jobDir, { out: join(dir, 'from-eval-json.html') });
    expect(written.data.gold).toBe('sentiment');
    expect(written.data.models[0]!.eval).toEqual(evalJson);
  });

  it('reports a CSV output file without a gold column, saying in one line what each section lacks', async () => {
    const csv = join(dir, 'out.csv');
    await writeFile(csv, 'id,label,confidence,error\n1,positive,0.9,\n2,,,"HTTP 500: upstream failed"\n3,Negative.,0.42,\n');
    const written = await writeReport(csv, { out: join(dir, 'no-gold.html') });
    const html = await readFile(written.out!, 'utf8');
    expect(written.data.models[0]).toMatchObject({ predicted: { positive: 1, Negative: 1 }, unpredicted: { failed: 1, empty: 0, not_a_label: 0 }, eval: null });
    expect(written.data.failures).toEqual([{ model: null, cause: 'http_500', count: 1, examples: [{ id: 'row 2', error: 'HTTP 500: upstream failed' }] }]);
    for (const id of ['chart-confusion-0', 'chart-reliability', 'chart-coverage', 'chart-timeline', 'chart-models']) expect(html).toContain(`data-testid="empty-${id}"`);
    expect(html).toContain('id="chart-labels"');
    expect(html).toContain('id="chart-failures"');
  });

  it('rejects a gold column the rows lack with EVAL_COLUMN_MISSING, and a bad option with OPTION_INVALID', async () => {
    expectKbatchError(await catchError(() => writeReport(output, { gold: 'nope', out: join(dir, 'x.html') })), { code: 'EVAL_COLUMN_MISSING', field: 'nope' });
    expectKbatchError(await catchError(() => writeReport(output, { gold: '', out: join(dir, 'x.html') })), { code: 'OPTION_INVALID', field: 'gold' });
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });

  it('refuses an out that is the rows read (also through a symlink or hard link) or a file of the job, with OPTION_INVALID naming out', async () => {
    const before = await readFile(output, 'utf8');
    const viaSymlink = join(dir, 'labeled-link.jsonl');
    const viaHardLink = join(dir, 'labeled-hard.jsonl');
    await symlink(output, viaSymlink);
    await link(output, viaHardLink);
    for (const out of [output, viaSymlink, viaHardLink]) expectKbatchError(await catchError(() => writeReport(output, { gold: 'sentiment', out })), { code: 'OPTION_INVALID', field: 'out' });
    // A job directory: its output file (read by the report), its state and its chunks.
    for (const out of [output, join(jobDir, 'run.json'), join(jobDir, 'manifest.json'), join(jobDir, 'chunks', 'part-00001.jsonl'), jobDir]) {
      expectKbatchError(await catchError(() => writeReport(jobDir, { gold: 'sentiment', out })), { code: 'OPTION_INVALID', field: 'out' });
    }
    expect(await readFile(output, 'utf8')).toBe(before);
    // A page of its own beside the job's files is fine.
    expect((await writeReport(jobDir, { gold: 'sentiment', out: join(jobDir, 'report.html') })).data.rows).toBe(30);
  });

  it("reads a job's default output file, and asks for the OUTPUT file of a job that wrote to stdout (INPUT_NOT_FOUND)", async () => {
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    const base = { client, model: SMALL, input: REVIEWS, prompt: 'Review: {{text}}', labels: LABELS, pollIntervalMs: 20, cache: false } as const;
    const defaultDir = join(dir, 'job-default-output');
    await runJob({ ...base, jobDir: defaultDir });
    expect(existsSync(join(defaultDir, 'output.jsonl'))).toBe(true);
    const written = await writeReport(defaultDir, { gold: 'sentiment', out: join(dir, 'default-output.html') });
    expect(written.data.output).toBe(join(defaultDir, 'output.jsonl'));
    expect(written.data.rows).toBe(30);
    const stdoutDir = join(dir, 'job-stdout');
    const sink = new Writable({ write: (_chunk, _enc, done) => done() });
    await runJob({ ...base, jobDir: stdoutDir, output: '-', stdout: sink });
    const err = await catchError(() => writeReport(stdoutDir, { out: join(dir, 'stdout.html') }));
    expectKbatchError(err, { code: 'INPUT_NOT_FOUND' });
    expect((err as Error).message).toMatch(/stdout.*OUTPUT file/);
  });

  it('reports a job answered wholly from the cache: its rows, and a timeline without batches', async () => {
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    const base = { client, model: SMALL, input: REVIEWS, prompt: 'Cached: {{text}}', labels: LABELS, pollIntervalMs: 20, cache: join(dir, 'cache') } as const;
    await runJob({ ...base, jobDir: join(dir, 'job-cache-fill') });
    const cachedDir = join(dir, 'job-cached');
    await runJob({ ...base, jobDir: cachedDir, output: join(dir, 'cached.jsonl') });
    expect(existsSync(join(cachedDir, 'manifest.json'))).toBe(false);
    const written = await writeReport(cachedDir, { gold: 'sentiment', out: join(dir, 'cached.html') });
    expect(written.data.rows).toBe(30);
    expect(written.data.timeline).toEqual([]);
    expect(written.data.models[0]!.eval).toEqual(await evaluateFile({ input: join(dir, 'cached.jsonl'), gold: 'sentiment', labels: LABELS }));
    expect(await readFile(written.out!, 'utf8')).toContain('every answer came from the cache');
  });

  it("reports a several-models job: its combined output, each model's batches by name, eval --json's figures per ALIAS. prefix", async () => {
    const client = createKlusterClient({ apiKey: 'k', baseURL: emu.baseURL });
    const parentDir = join(dir, 'job-models');
    await runJob({ client, models: [SMALL, LARGE], input: REVIEWS, prompt: 'Review: {{text}}', labels: LABELS, pollIntervalMs: 20, cache: false, jobDir: parentDir, gold: 'sentiment' } as RunJobOptions);
    expect(existsSync(join(parentDir, 'manifest.json'))).toBe(false);
    // No --gold given: the parent's eval.json names it.
    const written = await writeReport(parentDir, { out: join(dir, 'models.html') });
    const aliases = ['Meta-Llama-3.1-8B-Instruct-Turbo', 'Meta-Llama-3.3-70B-Instruct-Turbo'];
    expect(written.data.output).toBe(join(parentDir, 'output.jsonl'));
    expect(written.data.gold).toBe('sentiment');
    expect(written.data.rows).toBe(30);
    expect(written.data.models.map((m) => m.alias)).toEqual(aliases);
    for (const [i, alias] of aliases.entries()) {
      const evaluated = await evaluateFile({ input: written.data.output!, gold: 'sentiment', pred: `${alias}.label`, confidence: `${alias}.confidence`, error: `${alias}.error`, labels: LABELS });
      expect(written.data.models[i]!.eval).toEqual(evaluated);
    }
    expect(written.data.timeline!.map((b) => [b.model, b.part, b.status])).toEqual(aliases.map((alias) => [alias, '00001', 'completed']));
    expect(written.data.agreement).toHaveLength(1);
  });

  it('reads ALIAS.label columns as several models beside a gold column named label, and refuses pred equal to gold', async () => {
    const input = join(dir, 'gold-named-label.jsonl');
    await writeFile(input, [{ custom_id: 'r1', label: 'pos', 'a.label': 'pos', 'b.label': 'neg' }, { custom_id: 'r2', label: 'neg', 'a.label': 'neg', 'b.label': 'neg' }].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const written = await writeReport(input, { gold: 'label', out: join(dir, 'gold-named-label.html') });
    expect(written.data.models.map((m) => [m.alias, m.eval?.accuracy])).toEqual([['a', 1], ['b', 0.5]]);
    expectKbatchError(await catchError(() => writeReport(input, { gold: 'a.label', pred: 'a.label', out: join(dir, 'x.html') })), { code: 'OPTION_INVALID', field: 'pred' });
    const plain = join(dir, 'plain-label.jsonl');
    await writeFile(plain, '{"label":"pos"}\n');
    expectKbatchError(await catchError(() => writeReport(plain, { gold: 'label', out: join(dir, 'x.html') })), { code: 'OPTION_INVALID', field: 'gold' });
  });

  it('charts gold labels holding U+2028/U+2029 (vega-lite would compile a sort array into a broken expression)', async () => {
    const input = join(dir, 'line-separators.jsonl');
    const labels = ['a\u2028b', 'c\u2029d', "e'f"];
    await writeFile(input, labels.flatMap((g, i) => [{ custom_id: `r${i}`, gold: g, label: g }, { custom_id: `s${i}`, gold: g, label: labels[(i + 1) % 3] }]).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const written = await writeReport(input, { gold: 'gold', out: join(dir, 'line-separators.html') });
    expect(written.data.models[0]!.eval!.labels).toHaveLength(3);
    expect(embedded(await readFile(written.out!, 'utf8')).charts).toHaveProperty('chart-confusion-0');
  });

  it('counts the gold series of the label chart over every row with a gold label, and names a failure by its model\'s custom_id', async () => {
    const input = join(dir, 'gold-series.jsonl');
    const rows = [
      { gold: 'pos', 'a.custom_id': 'a-1', 'a.label': 'pos', 'a.error': null, 'b.custom_id': 'b-1', 'b.label': null, 'b.error': 'HTTP 500: boom' },
      { gold: 'neg', 'a.custom_id': 'a-2', 'a.label': null, 'a.error': 'HTTP 500: boom', 'b.custom_id': 'b-2', 'b.label': 'neg', 'b.error': null },
      { gold: '', 'a.custom_id': 'a-3', 'a.label': 'neg', 'a.error': null, 'b.custom_id': 'b-3', 'b.label': 'neg', 'b.error': null },
    ];
    await writeFile(input, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const written = await writeReport(input, { gold: 'gold', out: join(dir, 'gold-series.html') });
    // Each model scored one row, but two rows have a gold label.
    expect(written.data.goldLabels).toEqual({ pos: 1, neg: 1 });
    expect(written.data.failures.map((f) => [f.model, f.examples.map((e) => e.id)])).toEqual([['b', ['b-1']], ['a', ['a-2']]]);
  });

  describe.skipIf(skipBrowser)('in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM });
    });
    afterAll(async () => {
      await browser?.close();
    });

    // Open a report with every request but the file's own refused (and counted): a report must not need the network.
    async function openReport(out: string) {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.route('**/*', (route) => (route.request().url() === pathToFileURL(out).href ? route.continue() : route.abort()));
      await page.goto(pathToFileURL(out).href);
      await page.waitForSelector('body[data-ready="true"], body[data-ready="error"]', { timeout: 15_000 });
      expect(await page.getAttribute('body', 'data-ready')).toBe('true');
      expect(problems).toEqual([]);
      expect(requests).toEqual([pathToFileURL(out).href]);
      // Data marks only (bars, cells, points, lines): axes, legends and titles are drawn for an empty chart too.
      const charts = await page.$$eval('.chart', (els) =>
        els.map((el) => ({ id: el.id, marks: [...el.querySelectorAll('svg .mark-rect > path, svg .mark-symbol > path, svg .mark-line > path, svg .mark-area > path')].filter((m) => !m.closest('.role-axis, .role-legend, .role-title')).length })),
      );
      // Every chart placeholder holds its data drawn (the reliability chart's diagonal is one line without data).
      for (const c of charts) expect(c.marks, c.id).toBeGreaterThan(c.id === 'chart-reliability' ? 1 : 0);
      return { page, charts: charts.map((c) => c.id) };
    }

    it("draws every chart with no request and no console error, showing eval --json's accuracy and confusion matrix", async () => {
      const out = join(dir, 'browser.html');
      await writeReport(jobDir, { gold: 'sentiment', out });
      const { page, charts } = await openReport(out);
      expect(charts).toEqual(['chart-labels', 'chart-confusion-0', 'chart-confidence', 'chart-reliability', 'chart-coverage', 'chart-tokens', 'chart-timeline']);

      expect(await page.textContent('[data-testid="accuracy"]')).toBe(evalJson.accuracy!.toFixed(3));
      const cells = await page.$$eval('[data-testid="confusion-cell"]', (els) => els.map((el) => [el.getAttribute('data-gold'), el.getAttribute('data-pred'), Number(el.textContent)] as const));
      const shown: Record<string, Record<string, number>> = {};
      for (const [gold, pred, count] of cells) (shown[gold!] ??= {})[pred!] = count;
      expect(shown).toEqual(evalJson.confusion);

      // The heatmap is drawn, not blank: many distinct colours and a good share of non-white pixels.
      const png = PNG.sync.read(await page.locator('#chart-confusion-0').screenshot());
      const colours = new Set<number>();
      let inked = 0;
      for (let i = 0; i < png.data.length; i += 4) {
        const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
        colours.add((r << 16) | (g << 8) | b);
        if (r < 235 || g < 235 || b < 235) inked++;
      }
      expect(colours.size).toBeGreaterThan(50);
      expect(inked / (png.width * png.height)).toBeGreaterThan(0.15);
      await page.close();
    });

    it('draws several models side by side, their agreement and failures by cause', async () => {
      // Two models under ALIAS. prefixes (one with dots in its alias), over 40 rows; model b fails every 8th row.
      const labels = ['positive', 'negative', 'neutral'];
      const rows = Array.from({ length: 40 }, (_, i) => ({
        custom_id: `row-${i + 1}`,
        sentiment: labels[i % 3],
        'Llama-3.1-8B.label': labels[(i + (i % 5 === 0 ? 1 : 0)) % 3],
        'Llama-3.1-8B.confidence': 0.5 + (i % 10) / 20,
        'Llama-3.1-8B.error': null,
        'b.label': i % 8 === 0 ? null : labels[(i + (i % 4 === 0 ? 2 : 0)) % 3],
        'b.confidence': i % 8 === 0 ? null : 0.4 + (i % 7) / 12,
        'b.error': i % 8 === 0 ? 'HTTP 503: overloaded (server_busy)' : null,
      }));
      const input = join(dir, 'two-models.jsonl');
      await writeFile(input, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const out = join(dir, 'two-models.html');
      const written = await writeReport(input, { gold: 'sentiment', labels, out });
      const { page, charts } = await openReport(out);
      expect(charts).toEqual(['chart-labels', 'chart-confusion-0', 'chart-confusion-1', 'chart-confidence', 'chart-reliability', 'chart-coverage', 'chart-models', 'chart-failures']);
      const accuracy = await page.$$eval('[data-testid="accuracy"]', (els) => els.map((el) => [el.getAttribute('data-model'), el.textContent]));
      expect(accuracy).toEqual(written.data.models.map((m) => [m.alias, m.eval!.accuracy!.toFixed(3)]));
      expect(await page.textContent('[data-testid="failures"]')).toContain('b: http_503 (server_busy): 5 rows');
      expect(await page.$$eval('[data-testid="agreement"] tr', (trs) => trs.length)).toBe(2);
      await page.close();
    });
  });
});
