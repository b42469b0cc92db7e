export { createProgressReporter, formatDuration } from './progress-reporter.js';
export type { ProgressMode, ProgressReporter, ProgressReporterOptions, ReporterEvent } from './progress-reporter.js';
