import type { Command } from 'commander';
import { addClientFlags, clientFromFlags, type ClientFlags } from '../flags/client-flags.js';
import type { CliIo } from '../io.js';
import type { RegisterCommand } from './index.js';

/** `kbatch models`: the models the API offers, one id per line. */
export const register: RegisterCommand = (program: Command, io: CliIo) => {
  addClientFlags(program.command('models').description('List the available models').option('--json', 'print the raw model objects as JSON lines'))
    .addHelpText('after', '\nExamples:\n  $ kbatch models\n  $ kbatch models --json | jq -r .owned_by')
    .action(async (flags: ClientFlags & { json?: boolean }) => {
      const client = clientFromFlags(flags, io);
      for await (const model of client.models.list()) {
        io.stdout.write(flags.json ? `${JSON.stringify(model)}\n` : `${model.id}\n`);
      }
    });
};
