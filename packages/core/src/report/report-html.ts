// The report page (pure): sections of text and tables, chart placeholders, the data as JSON, vega and its bootstrap inlined.
import type { EvalResult } from '../eval/eval-result.js';
import type { ReportData } from './report-data.js';
import { modelName } from './report-charts.js';

/** One section: a heading, its text (tables, figures) and its charts' ids, or the line saying why it has none. */
export interface ReportSection {
  id: string;
  title: string;
  html: string;
}

/** The page's parts: sections in order, the compiled Vega specs by chart id, and vega's minified source. */
export interface ReportPage {
  data: ReportData;
  sections: ReportSection[];
  charts: Record<string, unknown>;
  vegaSource: string;
}

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside a `<script>` element: no `<` (so no `</script>` or `<!--`), no U+2028/2029 line separators. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A script's source safe inside a `<script>` element (`</script` and `<!--` cannot end or change it). */
export function scriptSource(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** A number as text: ratios with 3 decimals, "–" for null. */
export function figure(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined ? '–' : Number.isInteger(value) && digits === 0 ? String(value) : value.toFixed(digits);
}

/** The headline figures of one evaluated model, each with a data-testid. */
export function evalSummary(r: EvalResult, model: string | null): string {
  const attr = model === null ? '' : ` data-model="${escapeHtml(model)}"`;
  const item = (id: string, label: string, value: string): string => `<div class="stat"><span>${label}</span><b data-testid="${id}"${attr}>${value}</b></div>`;
  return `<div class="stats">${[
    item('accuracy', 'accuracy', figure(r.accuracy)),
    item('macro-f1', 'macro-F1', figure(r.macro_f1)),
    item('kappa', 'kappa', figure(r.kappa)),
    item('scored', 'scored', `${r.scored} / ${r.n}`),
    item('ece', 'calibration error (ECE)', figure(r.calibration?.ece)),
  ].join('')}</div>`;
}

/** The confusion matrix as a table: a `confusion-cell` per gold/pred pair carrying its labels as data attributes. */
export function confusionTable(r: EvalResult, model: string | null): string {
  const attr = model === null ? '' : ` data-model="${escapeHtml(model)}"`;
  const head = `<tr><th>gold \\ predicted</th>${r.labels.map((l) => `<th>${escapeHtml(l)}</th>`).join('')}</tr>`;
  const rows = r.labels.map(
    (gold) =>
      `<tr><th>${escapeHtml(gold)}</th>${r.labels
        .map((pred) => `<td data-testid="confusion-cell" data-gold="${escapeHtml(gold)}" data-pred="${escapeHtml(pred)}"${attr}>${r.confusion[gold]![pred]!}</td>`)
        .join('')}</tr>`,
  );
  return `<table class="confusion">${head}${rows.join('')}</table>`;
}

/** A table from a header and rows of cells (already HTML). */
export function table(header: string[], rows: string[][], testid?: string): string {
  const id = testid === undefined ? '' : ` data-testid="${testid}"`;
  return `<table${id}><tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.meta{color:#555}.empty{color:#777;font-style:italic}.stats{display:flex;gap:24px;flex-wrap:wrap;margin:8px 0}
.stat span{display:block;color:#666;font-size:12px}.stat b{font-size:20px}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f5f5f5}.chart{margin:8px 0}
code,.example{font-family:ui-monospace,monospace;font-size:12px}.example{color:#444;word-break:break-all}`;

// Draws every chart with vega (SVG, no network) and marks the page ready, or logs the error for the reader (and the test).
const BOOT = `(function(){var d=JSON.parse(document.getElementById('kbatch-report-data').textContent);
var runs=Object.keys(d.charts).map(function(id){return new vega.View(vega.parse(d.charts[id]),{renderer:'svg',container:document.getElementById(id),hover:true}).runAsync();});
Promise.all(runs).then(function(){document.body.setAttribute('data-ready','true');},function(e){console.error(e);document.body.setAttribute('data-ready','error');});})();`;

/** The whole page: one self-contained HTML document (a strict CSP forbids any request). */
export function renderHtml(page: ReportPage): string {
  const { data } = page;
  const title = `kbatch report: ${data.source}`;
  const models = data.models.map((m) => escapeHtml(modelName(m))).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body data-ready="false"><h1>${escapeHtml(title)}</h1>
<p class="meta">${data.rows} rows${data.output === null ? '' : ` from <code>${escapeHtml(data.output)}</code>`}; model${data.models.length === 1 ? '' : 's'}: ${models}; gold: ${
    data.gold === null ? 'none' : `<code>${escapeHtml(data.gold)}</code>`
  }; generated ${escapeHtml(data.generatedAt)}</p>
${page.sections.map((s) => `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2>${s.html}</section>`).join('\n')}
<script type="application/json" id="kbatch-report-data">${scriptJson({ report: data, charts: page.charts })}</script>
<script>${scriptSource(page.vegaSource)}</script>
<script>${BOOT}</script>
</body></html>
`;
}
