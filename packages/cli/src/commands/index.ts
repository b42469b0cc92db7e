import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { register as run } from './run.js';
import { register as prepare } from './prepare.js';
import { register as split } from './split.js';
import { register as finetune } from './finetune.js';
import { register as submit } from './submit.js';
import { register as status } from './status.js';
import { register as wait } from './wait.js';
import { register as resume } from './resume.js';
import { register as results } from './results.js';
import { register as cancel } from './cancel.js';
import { register as batches } from './batches.js';
import { register as files } from './files.js';
import { register as models } from './models.js';
import { register as join } from './join.js';
import { register as emulator } from './emulator.js';
import { register as chat } from './chat.js';
import { register as providers } from './providers.js';
import { register as lint } from './lint.js';
import { register as evaluate } from './eval.js';
import { register as cache } from './cache.js';
import { register as estimate } from './estimate.js';
import { register as report } from './report.js';
import { register as worker } from './worker.js';

/** A command module adds its subcommand to the program; the order here is the order in --help. */
export type RegisterCommand = (program: Command, io: CliIo) => void;

// One import + one entry per command module (commands/<name>.ts exports `register`).
export const commands: RegisterCommand[] = [run, estimate, prepare, split, submit, status, wait, resume, results, cancel, worker, join, evaluate, report, finetune, batches, files, models, chat, providers, lint, cache, emulator];
