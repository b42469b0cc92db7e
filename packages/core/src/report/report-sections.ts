// The report's sections in order, each with its text and the Vega-Lite specs of its charts (pure).
import type { TopLevelSpec } from 'vega-lite';
import type { ReportData } from './report-data.js';
import * as charts from './report-charts.js';
import { confusionTable, escapeHtml, evalSummary, figure, table, type ReportSection } from './report-html.js';

/** The sections and, by chart id, the Vega-Lite spec each chart placeholder is drawn from. */
export interface ReportLayout {
  sections: ReportSection[];
  specs: Record<string, TopLevelSpec>;
}

/** Lay the report out: every section of the issue, a one-line note where a section has no data. */
export function reportSections(data: ReportData): ReportLayout {
  const specs: Record<string, TopLevelSpec> = {};
  // A chart's placeholder, or its one-line reason for being absent.
  const chart = (id: string, c: charts.Chart): string => {
    if ('empty' in c) return `<p class="empty" data-testid="empty-${id}">${escapeHtml(c.empty)}</p>`;
    specs[id] = c.spec;
    return `<div class="chart" id="${id}"></div>`;
  };
  const section = (id: string, title: string, html: string): ReportSection => ({ id, title, html });
  const named = data.models.length > 1;
  return {
    specs,
    sections: [
      section('figures', 'Figures', figuresHtml(data)),
      section('labels', 'Label distribution', chart('chart-labels', charts.labelChart(data))),
      section('confusion', 'Confusion matrix', data.models.map((m, i) => {
        const name = named ? `<h3>${escapeHtml(charts.modelName(m))}</h3>` : '';
        const c = chart(`chart-confusion-${i}`, charts.confusionChart(m));
        return `${name}${c}${m.eval !== null && m.eval.scored > 0 ? confusionTable(m.eval, m.alias) : ''}`;
      }).join('')),
      section('confidence', 'Confidence histogram and reliability', chart('chart-confidence', charts.confidenceChart(data)) + chart('chart-reliability', charts.reliabilityChart(data))),
      section('coverage', 'Accuracy vs coverage', chart('chart-coverage', charts.coverageChart(data)) + targetHtml(data)),
      section('models', 'Models side by side', chart('chart-models', charts.modelsChart(data)) + agreementHtml(data)),
      section('tokens', 'Tokens and cost', chart('chart-tokens', charts.tokensChart(data)) + costHtml(data)),
      section('timeline', 'Batch timeline', chart('chart-timeline', charts.timelineChart(data)) + timelineHtml(data)),
      section('failures', 'Failures', chart('chart-failures', charts.failuresChart(data)) + failuresHtml(data)),
    ],
  };
}

function figuresHtml(data: ReportData): string {
  return data.models
    .map((m) => {
      const head = data.models.length > 1 ? `<h3>${escapeHtml(charts.modelName(m))}</h3>` : '';
      const u = m.unpredicted;
      const rows = `<p>${u.failed} failed, ${u.empty} empty, ${u.not_a_label} not a label, of ${data.rows} rows.</p>`;
      if (m.eval === null) return `${head}<p class="empty">No gold column: give --gold COLUMN to see accuracy, F1 and kappa.</p>${rows}`;
      const reasons = Object.entries(m.eval.unscored_by_reason).filter(([, n]) => n > 0).map(([r, n]) => `${n} ${r.replace(/_/g, ' ')}`);
      return `${head}${evalSummary(m.eval, m.alias)}<p>gold <code>${escapeHtml(m.eval.gold)}</code>, prediction <code>${escapeHtml(m.eval.pred)}</code>; unscored: ${reasons.join(', ') || 'none'}.</p>${perLabelTable(m.eval)}`;
    })
    .join('');
}

function perLabelTable(r: NonNullable<ReportData['models'][number]['eval']>): string {
  const rows = r.labels.map((l) => {
    const f = r.per_label[l]!;
    return [escapeHtml(l), figure(f.precision), figure(f.recall), figure(f.f1), String(f.support)];
  });
  return table(['label', 'precision', 'recall', 'F1', 'support'], rows, 'per-label');
}

function targetHtml(data: ReportData): string {
  return data.models
    .filter((m) => m.eval?.target !== undefined)
    .map((m) => {
      const t = m.eval!.target!;
      const who = data.models.length > 1 ? `${escapeHtml(charts.modelName(m))}: ` : '';
      if (t.threshold === null) return `<p>${who}no confidence threshold reaches accuracy ${t.target_accuracy}${t.not_computed ? ` (${escapeHtml(t.not_computed)})` : ''}.</p>`;
      return `<p>${who}target accuracy ${t.target_accuracy}: confidence ≥ ${figure(t.threshold)} answers ${t.answered} rows (${(t.coverage * 100).toFixed(1)}%) at accuracy ${figure(t.accuracy)}.</p>`;
    })
    .join('');
}

function agreementHtml(data: ReportData): string {
  if (data.models.length < 2) return '';
  const models = table(
    ['model', 'accuracy', 'macro-F1', 'kappa', 'failed', 'prompt tokens', 'completion tokens'],
    data.models.map((m) => [escapeHtml(charts.modelName(m)), figure(m.eval?.accuracy), figure(m.eval?.macro_f1), figure(m.eval?.kappa), String(m.unpredicted.failed), String(m.tokens.prompt), String(m.tokens.completion)]),
    'models',
  );
  const pairs = table(
    ['model A', 'model B', 'rows both labeled', 'agreement', "Cohen's kappa"],
    data.agreement.map((a) => [escapeHtml(a.a), escapeHtml(a.b), String(a.n), figure(a.agreement), figure(a.kappa)]),
    'agreement',
  );
  return models + pairs;
}

function costHtml(data: ReportData): string {
  const s = data.spend;
  if (s === null) return '<p class="empty">No spend.json: cost is known for jobs run by kbatch run.</p>';
  const usd = (x: number | null): string => (x === null ? 'unknown' : `$${x.toFixed(4)}`);
  const rows = s.models.map((m) => [escapeHtml(m.model), String(m.batch.requests + m.realtime.requests), String(m.batch.promptTokens + m.realtime.promptTokens), String(m.batch.completionTokens + m.realtime.completionTokens), usd(m.cost), usd(m.batchSaved)]);
  const perCorrect = data.models.flatMap((m) => {
    const cost = spendOf(data, m)?.cost ?? null;
    const correct = m.eval?.correct ?? 0;
    return cost === null || correct === 0 ? [] : [`${data.models.length > 1 ? `${escapeHtml(charts.modelName(m))}: ` : ''}<b data-testid="cost-per-correct">${usd(cost / correct)}</b> per correct label`];
  });
  const unpriced = s.unpriced.length > 0 ? `<p>No price known for ${s.unpriced.map(escapeHtml).join(', ')}.</p>` : '';
  return `${table(['model', 'requests', 'prompt tokens', 'completion tokens', 'cost', 'batch discount saved'], rows, 'cost')}<p>total cost <b data-testid="cost">${usd(s.cost)}</b>; cache saved ${usd(s.cacheSaved)}.</p>${perCorrect.length > 0 ? `<p>${perCorrect.join('; ')}.</p>` : ''}${unpriced}`;
}

// A model's spend: the only one, or the one whose id ends in the model's alias.
function spendOf(data: ReportData, m: ReportData['models'][number]): NonNullable<ReportData['spend']>['models'][number] | undefined {
  const models = data.spend?.models ?? [];
  if (m.alias === null) return models.length === 1 ? models[0] : undefined;
  return models.find((s) => s.model.split('/').at(-1) === m.alias);
}

function timelineHtml(data: ReportData): string {
  if (data.timeline === null || data.timeline.length === 0) return '';
  // A several-models job names each batch's model.
  const named = data.timeline.some((b) => b.model !== undefined);
  const rows = data.timeline.map((b) => [
    ...(named ? [escapeHtml(b.model ?? '–')] : []),
    escapeHtml(b.part), escapeHtml(b.kind), escapeHtml(b.batchId ?? '–'), escapeHtml(b.status), escapeHtml(b.start), escapeHtml(b.end ?? 'unknown'),
    String(b.requests), b.succeeded === null ? '–' : String(b.succeeded), b.failed === null ? '–' : String(b.failed),
  ]);
  return table([...(named ? ['model'] : []), 'part', 'kind', 'batch', 'status', 'started', 'results downloaded', 'requests', 'succeeded', 'failed'], rows, 'timeline');
}

function failuresHtml(data: ReportData): string {
  const items = data.failures.map((f) => {
    const who = f.model === null ? '' : `${escapeHtml(f.model)}: `;
    const examples = f.examples.map((e) => `<li class="example">${escapeHtml(e.id)}: ${escapeHtml(e.error)}</li>`).join('');
    return `<li><b>${who}${escapeHtml(f.cause)}</b>: ${f.count} rows<ul>${examples}</ul></li>`;
  });
  const other = data.otherFailures > 0 ? `<li>${data.otherFailures} rows of other causes</li>` : '';
  return items.length === 0 ? '' : `<ul data-testid="failures">${items.join('')}${other}</ul>`;
}
