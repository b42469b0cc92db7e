import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { register as finetune } from './finetune.js';
import { register as join } from './join.js';

/** A command module adds its subcommand to the program; the order here is the order in --help. */
export type RegisterCommand = (program: Command, io: CliIo) => void;

// One import + one entry per command module (commands/<name>.ts exports `register`).
export const commands: RegisterCommand[] = [join, finetune];
