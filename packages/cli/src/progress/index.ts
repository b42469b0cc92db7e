export { createProgressReporter, formatDuration } from './progress-reporter.js';
export type { ProgressMode, ProgressReporter, ProgressReporterOptions } from './progress-reporter.js';
