import type { Command } from 'commander';

/** The evaluation and sample flags of `run` (and so `estimate`, which copies run's flags). */
export interface EvalFlags {
  gold?: string;
}

/** Add --gold. */
export function addEvalFlags(cmd: Command): Command {
  return cmd.option('--gold <column>', "evaluate the run's labels against this input column as they are written (summary, --progress json, <job>/eval.json)");
}

/** The run options the flags ask for (only those given, so a rerun keeps the stored ones). */
export function evalOptionsFromFlags(flags: EvalFlags): { gold?: string } {
  return flags.gold !== undefined ? { gold: flags.gold } : {};
}
