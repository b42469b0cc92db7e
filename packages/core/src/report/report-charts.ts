// The report's charts as Vega-Lite specs (pure): each is compiled to a Vega spec in Node, and vega draws it in the page.
import type { TopLevelSpec } from 'vega-lite';
import type { ReportModel, ReportData } from './report-data.js';
import { CONFIDENCE_BINS } from './report-data.js';

/** A chart's Vega-Lite spec, or why the section has none (said in one line instead of an empty chart). */
export type Chart = { spec: TopLevelSpec } | { empty: string };

const WIDTH = 520;
const HEIGHT = 240;
const NO_GOLD = 'No gold column: give --gold COLUMN (or run with --gold) to see this.';

/** A model's name in charts: its alias, or "model" when the output holds one. */
export function modelName(m: Pick<ReportModel, 'alias'>): string {
  return m.alias ?? 'model';
}

// Colour by model only when there are several (one model needs no legend).
const byModel = (data: ReportData): { color?: { field: 'model'; type: 'nominal' } } => (data.models.length > 1 ? { color: { field: 'model', type: 'nominal' } } : {});

const scored = (data: ReportData): ReportModel[] => data.models.filter((m) => m.eval !== null && m.eval.scored > 0);

/** Predicted labels per model, and the gold labels of every row with one. */
export function labelChart(data: ReportData): Chart {
  const values = data.models.flatMap((m) => Object.entries(m.predicted).map(([label, count]) => ({ series: `${modelName(m)} predicted`, label, count })));
  if (data.goldLabels !== null) values.push(...Object.entries(data.goldLabels).map(([label, count]) => ({ series: 'gold', label, count })));
  if (values.length === 0) return { empty: 'No row has a usable label.' };
  return {
    spec: {
      width: WIDTH, height: HEIGHT, data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'label', type: 'nominal', sort: null, title: 'label', axis: { labelAngle: 0 } },
        xOffset: { field: 'series', type: 'nominal' },
        y: { field: 'count', type: 'quantitative', title: 'rows' },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  };
}

/** The confusion matrix of one model as a heatmap with its counts written in the cells. */
export function confusionChart(m: ReportModel): Chart {
  const r = m.eval;
  if (r === null) return { empty: NO_GOLD };
  if (r.scored === 0) return { empty: 'No row was scored (every row lacks a gold label or a usable prediction).' };
  // Sorted by the labels' index in the data: a sort array becomes a vega expression, which a label with U+2028 breaks.
  const values = r.labels.flatMap((gold, g) => r.labels.map((pred, p) => ({ gold, pred, goldIndex: g, predIndex: p, count: r.confusion[gold]![pred]! })));
  const max = Math.max(...values.map((v) => v.count));
  const axis = (field: 'pred' | 'gold', title: string) => ({ field, title, type: 'nominal' as const, sort: { field: `${field}Index`, op: 'min' as const }, axis: { labelAngle: 0 } });
  return {
    spec: {
      width: Math.min(WIDTH, 60 * r.labels.length + 40), height: Math.min(WIDTH, 40 * r.labels.length + 20), data: { values },
      encoding: { x: axis('pred', 'predicted'), y: axis('gold', 'gold') },
      layer: [
        { mark: { type: 'rect', tooltip: true }, encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, title: 'rows' } } },
        {
          mark: { type: 'text', fontSize: 13 },
          encoding: { text: { field: 'count', type: 'quantitative' }, color: { condition: { test: `datum.count > ${max / 2}`, value: 'white' }, value: 'black' } },
        },
      ],
    },
  };
}

/** Rows per confidence bin, per model. */
export function confidenceChart(data: ReportData): Chart {
  const values = data.models.flatMap((m) =>
    m.confidence.map((count, i) => ({ model: modelName(m), lower: i / CONFIDENCE_BINS, upper: (i + 1) / CONFIDENCE_BINS, count })),
  );
  if (!values.some((v) => v.count > 0)) return { empty: 'No row has a confidence (run with --labels and --logprobs to get one).' };
  return {
    spec: {
      width: WIDTH, height: HEIGHT, data: { values },
      mark: { type: 'bar', opacity: data.models.length > 1 ? 0.6 : 1, tooltip: true },
      encoding: {
        x: { field: 'lower', type: 'quantitative', bin: { binned: true, step: 1 / CONFIDENCE_BINS }, title: 'confidence', scale: { domain: [0, 1] } },
        x2: { field: 'upper' },
        y: { field: 'count', type: 'quantitative', stack: null, title: 'rows' },
        ...byModel(data),
      },
    },
  };
}

/** Accuracy per confidence bin against the bin's mean confidence, with the diagonal of perfect calibration. */
export function reliabilityChart(data: ReportData): Chart {
  const models = scored(data).filter((m) => m.eval!.calibration !== undefined);
  if (models.length === 0) return { empty: data.gold === null ? NO_GOLD : 'No scored row has a confidence.' };
  const values = models.flatMap((m) =>
    m.eval!.calibration!.bins.filter((b) => b.count > 0).map((b) => ({ model: modelName(m), confidence: b.mean_confidence, accuracy: b.accuracy, rows: b.count })),
  );
  const unit = { type: 'quantitative' as const, scale: { domain: [0, 1] } };
  return {
    spec: {
      width: 320, height: 320,
      layer: [
        { data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: 'line', strokeDash: [4, 4], color: '#999' }, encoding: { x: { ...unit, field: 'x', title: 'mean confidence' }, y: { ...unit, field: 'y', title: 'accuracy' } } },
        {
          data: { values },
          mark: { type: 'line', point: true, tooltip: true },
          encoding: { x: { ...unit, field: 'confidence' }, y: { ...unit, field: 'accuracy' }, ...byModel(data) },
        },
      ],
    },
  };
}

/** Accuracy when only the most confident x % of the scored rows are answered. */
export function coverageChart(data: ReportData): Chart {
  const models = scored(data).filter((m) => m.eval!.coverage !== undefined);
  if (models.length === 0) return { empty: data.gold === null ? NO_GOLD : 'No scored row has a confidence.' };
  const values = models.flatMap((m) => m.eval!.coverage!.map((p) => ({ model: modelName(m), coverage: p.coverage, accuracy: p.accuracy, threshold: p.threshold, answered: p.answered })));
  return {
    spec: {
      width: WIDTH, height: HEIGHT, data: { values },
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: { field: 'coverage', type: 'quantitative', axis: { format: '.0%' }, scale: { domain: [0, 1] } },
        y: { field: 'accuracy', type: 'quantitative', scale: { zero: false } },
        ...byModel(data),
      },
    },
  };
}

/** Accuracy and macro-F1 of each model side by side (with several models and gold). */
export function modelsChart(data: ReportData): Chart {
  if (data.models.length < 2) return { empty: 'One model: run with several --model to compare them.' };
  const models = scored(data);
  if (models.length === 0) return { empty: NO_GOLD };
  const values = models.flatMap((m) => [
    { model: modelName(m), figure: 'accuracy', value: m.eval!.accuracy },
    { model: modelName(m), figure: 'macro-F1', value: m.eval!.macro_f1 },
  ]);
  return {
    spec: {
      width: WIDTH, height: HEIGHT, data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'model', type: 'nominal', sort: null, axis: { labelAngle: 0 } },
        xOffset: { field: 'figure', type: 'nominal' },
        y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: null },
        color: { field: 'figure', type: 'nominal', title: null },
      },
    },
  };
}

/** Prompt and completion tokens per model: spend.json's (batch and realtime) when known, else the rows' token columns. */
export function tokensChart(data: ReportData): Chart {
  const values = data.spend
    ? data.spend.models.flatMap((s) => [
        { model: s.model, kind: 'prompt', tokens: s.batch.promptTokens + s.realtime.promptTokens },
        { model: s.model, kind: 'completion', tokens: s.batch.completionTokens + s.realtime.completionTokens },
      ])
    : data.models.flatMap((m) => [
        { model: modelName(m), kind: 'prompt', tokens: m.tokens.prompt },
        { model: modelName(m), kind: 'completion', tokens: m.tokens.completion },
      ]);
  if (!values.some((v) => v.tokens > 0)) return { empty: 'No token counts: neither a spend.json nor token columns in the rows.' };
  return {
    spec: {
      width: WIDTH, height: { step: 28 }, data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: { y: { field: 'model', type: 'nominal', title: null }, x: { field: 'tokens', type: 'quantitative' }, color: { field: 'kind', type: 'nominal', title: null } },
    },
  };
}

/** The job's batches on a time axis, coloured by status. */
export function timelineChart(data: ReportData): Chart {
  if (data.timeline === null) return { empty: 'An output file has no batch history: give the job directory to see its batches.' };
  if (data.timeline.length === 0) return { empty: 'No batch: every answer came from the cache or a realtime request (or nothing was sent yet).' };
  // A batch whose end is unknown has no bar (its row in the table says so).
  const values = data.timeline.filter((b) => b.end !== null).map((b) => ({ ...b, batch: `${b.model === undefined ? '' : `${b.model} `}${b.part} ${b.kind}` }));
  if (values.length === 0) return { empty: 'No batch has a known end (their result files are gone).' };
  return {
    spec: {
      width: WIDTH, height: { step: values.length > 30 ? 12 : 20 }, data: { values },
      mark: { type: 'bar', tooltip: true, cornerRadius: 2 },
      encoding: {
        y: { field: 'batch', type: 'ordinal', sort: null, title: null },
        x: { field: 'start', type: 'temporal', title: 'time', axis: { format: '%H:%M:%S' } },
        x2: { field: 'end' },
        color: { field: 'status', type: 'nominal' },
      },
    },
  };
}

/** Failed rows per cause. */
export function failuresChart(data: ReportData): Chart {
  if (data.failures.length === 0) return { empty: 'No row failed.' };
  const values = data.failures.map((f) => ({ cause: f.model === null ? f.cause : `${f.model}: ${f.cause}`, count: f.count }));
  return {
    spec: {
      width: WIDTH, height: { step: 22 }, data: { values },
      mark: { type: 'bar', tooltip: true },
      encoding: { y: { field: 'cause', type: 'nominal', sort: '-x', title: null }, x: { field: 'count', type: 'quantitative', title: 'rows' } },
    },
  };
}
