import { z } from 'zod';
import { booleanField, nonEmptyField } from '../options.js';
import { priceRowsProblem } from './price-file.js';

const PRICES = 'must be a price file path or an array of price rows';

/** Rows given as the option: checked by the price file's schema (`PriceFileSchema`), its first problem said as a file's would be (row numbered from 1). */
const PriceRowsSchema = z.array(z.unknown()).superRefine((rows, ctx) => {
  const problem = priceRowsProblem(rows);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

/** A spending cap in US dollars (`maxCost`, `--max-cost`): a positive number. */
export const MaxCostSchema = z.number({ error: 'must be a number of US dollars' }).positive({ error: 'must be a positive number of US dollars' });

/** The estimate's fields of runJob's options, composed into its schema. */
export const EstimateFields = {
  /**
   * Batch runs: refuse (BUDGET_EXCEEDED) before anything is uploaded when the worst-case estimate is above this many
   * US dollars, or (COST_UNKNOWN) when it cannot be known. Realtime runs stop sending when the spend would pass it.
   */
  maxCost: MaxCostSchema.optional(),
  /**
   * Prices of your own, merged over kbatch's table (they win where they fit): a JSON file of rows (path) or the rows,
   * each in the table's schema (`PriceRowSchema`: providers, model, mode, window?, USD per million tokens in and out,
   * its source and the date checked). Used by the estimate, `maxCost` and the spend. E.g. kluster's batch prices.
   */
  prices: z.union([nonEmptyField(PRICES), PriceRowsSchema], { error: (issue) => (Array.isArray(issue.input) ? (priceRowsProblem(issue.input) ?? PRICES) : PRICES) }).optional(),
  /** Estimate only ({@link estimateJob}): nothing is uploaded, sent or written; the summary carries the estimate. */
  dryRun: booleanField().optional(),
};
