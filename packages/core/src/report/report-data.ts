// The figures a report shows, gathered in one pass over the output rows plus the job's state files.
import type { EvalResult } from '../eval/eval-result.js';
import type { Spend } from '../cost/spend-types.js';

/** Where one model's fields are in a row (its `ALIAS.` prefix when the output holds several models). */
export interface ModelColumns {
  /** The model's alias (the model id's last `/`-segment), null when the output holds one model (no prefix). */
  alias: string | null;
  pred: string;
  confidence: string;
  error: string;
  /** The row's custom_id as the join named it (`ALIAS.PREFIXcustom_id` in a several-models output). */
  customId: string;
  promptTokens: string;
  completionTokens: string;
}

/** The confidence histogram's bins: 20 equal widths over [0, 1], the last one closed. */
export const CONFIDENCE_BINS = 20;

/** What the rows say of one model. */
export interface ReportModel {
  alias: string | null;
  pred: string;
  /** Rows per predicted label (after the `--labels` normalisation), in first-seen or `labels` order. */
  predicted: Record<string, number>;
  /** Rows without a usable prediction, by reason: failed (error column), empty, not_a_label. */
  unpredicted: { failed: number; empty: number; not_a_label: number };
  /** Rows per confidence bin ({@link CONFIDENCE_BINS}), over the rows with a prediction and a confidence. */
  confidence: number[];
  /** Token columns summed over the rows (0 when the rows have none). */
  tokens: { prompt: number; completion: number };
  /** `evaluate()`'s figures (what `kbatch eval --json` prints) when a gold column is known; else null. */
  eval: EvalResult | null;
}

/** How often two models give the same label: the evaluation of one against the other. */
export interface Agreement {
  a: string;
  b: string;
  /** Rows where both gave a usable label. */
  n: number;
  /** Share of those with the same label (null when n is 0). */
  agreement: number | null;
  kappa: number | null;
}

/** One cause of failure: how many rows it took and up to {@link FAILURE_EXAMPLES} of them. */
export interface FailureGroup {
  model: string | null;
  cause: string;
  count: number;
  examples: { id: string; error: string }[];
}

/** Most examples kept per failure cause. */
export const FAILURE_EXAMPLES = 3;

/** One batch of the job as its manifest tells it. */
export interface TimelineBatch {
  /** The model's alias, in a several-models job (each model's batches are its sub-job's). */
  model?: string;
  part: string;
  /** chunk, resubmit (leftovers of an expired batch) or retry (a retry round). */
  kind: string;
  batchId: string | null;
  /** The batch's last known status (completed, expired, failed, cancelled, in_progress…), `not created` before create. */
  status: string;
  /** When kbatch began creating it (or uploading its file, before create). */
  start: string;
  /** When its results were downloaded (the result files' time; null when unknown), or the manifest's last update while it was not done. */
  end: string | null;
  requests: number;
  succeeded: number | null;
  failed: number | null;
}

/** Everything a report shows. */
export interface ReportData {
  /** The JOB_DIR or OUTPUT the report is of. */
  source: string;
  /** The output file the rows were read from (null for a job whose output went to stdout). */
  output: string | null;
  generatedAt: string;
  gold: string | null;
  /** Rows per gold label (normalised as the evaluation does) over every row with one; null without a gold column. */
  goldLabels: Record<string, number> | null;
  /** Output rows read. */
  rows: number;
  models: ReportModel[];
  /** Every pair of models (with several). */
  agreement: Agreement[];
  failures: FailureGroup[];
  /** Failures not kept apart because more than {@link MAX_CAUSES} causes were seen. */
  otherFailures: number;
  /** The job's batches (null for an OUTPUT file). */
  timeline: TimelineBatch[] | null;
  /** The job's spend.json (null when absent). */
  spend: Spend | null;
}

/** Most failure causes kept apart (the rest are counted together). */
export const MAX_CAUSES = 100;
