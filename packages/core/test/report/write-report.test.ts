import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@kbatch/emulator';
import { createKlusterClient } from '../../src/client/index.js';
import { evaluateFile, runJob, writeReport, type EvalResult, type ReportData } from '../../src/index.js';
import { catchError, expectKbatchError } from '../helpers/errors.js';

const REVIEWS = fileURLToPath(new URL('../../../examples/data/reviews.csv', import.meta.url));
const LABELS = ['positive', 'negative', 'neutral'];
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
      const charts = await page.$$eval('.chart', (els) => els.map((el) => ({ id: el.id, marks: el.querySelectorAll('svg path, svg text, svg line').length })));
      // Every chart placeholder holds a drawn SVG.
      for (const c of charts) expect(c.marks, c.id).toBeGreaterThan(5);
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
