import { createProgram } from './program.js';
import { reportError } from './report-error.js';

// The only place that turns errors into messages and exit codes.
try {
  await createProgram().parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err, process.stderr);
}
