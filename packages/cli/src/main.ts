import { createProgram } from './program.js';
import { isBrokenPipe, reportError } from './report-error.js';
import { EXIT } from './exit-error.js';

// A closed stdout pipe surfaces as an 'error' event, not always as a rejection: end quietly either way.
process.stdout.on('error', (err) => {
  if (isBrokenPipe(err)) process.exit(EXIT.brokenPipe);
  throw err;
});

// The only place that turns errors into messages and exit codes.
try {
  await createProgram().parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err, process.stderr);
}
