import type { Command } from 'commander';
import { KbatchError, SampleOptionsSchema, type SampleOptions } from '@kbatch/core';

/** The sample flags (`run`, `estimate`, `prepare`). */
export interface SampleFlags {
  sample?: string;
  sampleSeed?: string;
  stratify?: string;
}

/** The evaluation and sample flags of `run` (and so `estimate`, which copies run's flags). */
export interface EvalFlags extends SampleFlags {
  gold?: string;
}

/** Add --gold, --sample, --sample-seed and --stratify (`--seed` is the model's own sampling seed, a request flag). */
export function addEvalFlags(cmd: Command): Command {
  cmd.option('--gold <column>', "evaluate the run's labels against this input column as they are written (summary, --progress json, <job>/eval.json)");
  return addSampleFlags(cmd);
}

/** Add --sample, --sample-seed and --stratify. */
export function addSampleFlags(cmd: Command): Command {
  return cmd
    .option('--sample <n|fraction>', 'run on a sample: N records (reservoir, at most 1,000,000) or a fraction in (0,1) of them, in input order')
    .option('--sample-seed <n>', 'seed of --sample (default 42: the same command takes the same records)')
    .option('--stratify <column>', 'with --sample: sample each value of this column in proportion, at least one record per value');
}

// Which flag set each sample field (OPTION_INVALID errors then name it).
const SAMPLE_FLAGS: Record<string, string> = { size: '--sample', fraction: '--sample', seed: '--sample-seed', stratify: '--stratify' };

/** The run options the flags ask for (only those given, so a rerun keeps the stored ones). */
export function evalOptionsFromFlags(flags: EvalFlags): { gold?: string; sample?: SampleOptions } {
  const sample = sampleFromFlags(flags);
  return { ...(flags.gold !== undefined ? { gold: flags.gold } : {}), ...(sample !== undefined ? { sample } : {}) };
}

/**
 * The sample the flags ask for, validated ("50" is a count, "0.1" a fraction); undefined without --sample.
 * @throws KbatchError OPTION_INVALID naming the flag
 */
export function sampleFromFlags(flags: SampleFlags): SampleOptions | undefined {
  if (flags.sample === undefined) {
    const alone = flags.sampleSeed !== undefined ? '--sample-seed' : flags.stratify !== undefined ? '--stratify' : null;
    if (alone !== null) throw new KbatchError('OPTION_INVALID', `Invalid option \`${alone}\`: needs --sample N or --sample FRACTION`, { field: alone });
    return undefined;
  }
  const text = flags.sample!.trim();
  const n = Number(text);
  const amount = /^\d+$/.test(text) ? { size: n } : { fraction: text !== '' && Number.isFinite(n) ? n : (text as unknown as number) };
  const given = flags.sampleSeed;
  const seed = given === undefined ? {} : { seed: /^\d+$/.test(given.trim()) ? Number(given) : (given as unknown as number) };
  const spec = { ...amount, ...seed, ...(flags.stratify !== undefined ? { stratify: flags.stratify } : {}) };
  const parsed = SampleOptionsSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = SAMPLE_FLAGS[String(issue.path[0])] ?? '--sample';
    const got = flag === '--sample' ? flags.sample : flag === '--sample-seed' ? given : flags.stratify;
    throw new KbatchError('OPTION_INVALID', `Invalid option \`${flag}\`: ${issue.message}, got ${JSON.stringify(got)}`, { field: flag, cause: parsed.error });
  }
  return spec;
}
